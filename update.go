package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/ocirun/ocirun/specconv"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "update container resource constraints",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "path to a JSON file of linux.resources, or - for stdin"},
		&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight (10 to 1000)"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period in microseconds"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota in microseconds"},
		&cli.StringFlag{Name: "cpu-share", Usage: "CPU shares (relative weight)"},
		&cli.StringFlag{Name: "cpu-shares", Hidden: true},
		&cli.StringFlag{Name: "cpu-rt-period", Usage: "realtime period in microseconds"},
		&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "realtime runtime in microseconds"},
		&cli.StringFlag{Name: "cpu-idle", Usage: "set the cgroup SCHED_IDLE or not (0 or 1)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to use (0-3, 0,1)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use (0-3, 0,1)"},
		&cli.StringFlag{Name: "kernel-memory", Usage: "ignored: kernels no longer limit kernel memory"},
		&cli.StringFlag{Name: "kernel-memory-tcp", Usage: "ignored: kernels no longer limit kernel memory"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (in bytes, or with k, m, g suffixes)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory reservation or soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "total memory usage (memory + swap); -1 for unlimited swap"},
		&cli.IntFlag{Name: "pids-limit", Usage: "maximum number of pids allowed in the container"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		r, err := updateSpec(c)
		if err != nil {
			return err
		}
		res, err := specconv.ConvertResources(r)
		if err != nil {
			return err
		}
		if len(res.Devices) > 0 {
			// Like runc: device rules are fixed at create.
			slog.Warn("update: linux.resources.devices are ignored")
			res.Devices = nil
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		defer ctr.Close()
		return ctr.Update(res)
	},
}

// updateSpec builds the resources from --resources, then the flags over them.
func updateSpec(c *cli.Context) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if path := c.String("resources"); path != "" {
		var data []byte
		var err error
		if path == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("--resources: %w", err)
		}
		if err := json.Unmarshal(data, r); err != nil {
			return nil, fmt.Errorf("--resources: %w", err)
		}
	}
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	for _, f := range []struct {
		name string
		set  func(int64)
	}{
		{"memory", func(v int64) { mem().Limit = &v }},
		{"memory-reservation", func(v int64) { mem().Reservation = &v }},
		{"memory-swap", func(v int64) { mem().Swap = &v }},
	} {
		if s := c.String(f.name); s != "" {
			v, err := parseBytes(s)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", f.name, err)
			}
			f.set(v)
		}
	}
	ints := []struct {
		name string
		set  func(int64) error
	}{
		{"cpu-period", func(v int64) error { u := uint64(v); cpu().Period = &u; return nonNeg(v) }},
		{"cpu-quota", func(v int64) error { cpu().Quota = &v; return nil }},
		{"cpu-share", func(v int64) error { u := uint64(v); cpu().Shares = &u; return nonNeg(v) }},
		{"cpu-shares", func(v int64) error { u := uint64(v); cpu().Shares = &u; return nonNeg(v) }},
		{"cpu-rt-period", func(v int64) error { u := uint64(v); cpu().RealtimePeriod = &u; return nonNeg(v) }},
		{"cpu-rt-runtime", func(v int64) error { cpu().RealtimeRuntime = &v; return nil }},
		{"cpu-idle", func(v int64) error { cpu().Idle = &v; return nil }},
		{"blkio-weight", func(v int64) error {
			if v < 10 || v > 1000 {
				return fmt.Errorf("must be 10 to 1000")
			}
			w := uint16(v)
			r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
			return nil
		}},
	}
	for _, f := range ints {
		if s := c.String(f.name); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err == nil {
				err = f.set(v)
			}
			if err != nil {
				return nil, fmt.Errorf("--%s %q: %v", f.name, s, err)
			}
		}
	}
	if s := c.String("cpuset-cpus"); s != "" {
		cpu().Cpus = s
	}
	if s := c.String("cpuset-mems"); s != "" {
		cpu().Mems = s
	}
	if c.IsSet("pids-limit") {
		v := int64(c.Int("pids-limit"))
		r.Pids = &specs.LinuxPids{Limit: &v}
	}
	if c.IsSet("kernel-memory") || c.IsSet("kernel-memory-tcp") {
		slog.Warn("update: kernel memory limits are ignored")
	}
	if m := r.Memory; m != nil && m.Swap != nil && m.Limit != nil && *m.Swap > 0 && *m.Limit > 0 && *m.Swap < *m.Limit {
		return nil, fmt.Errorf("--memory-swap %d must not be below --memory %d", *m.Swap, *m.Limit)
	}
	return r, nil
}

func nonNeg(v int64) error {
	if v < 0 {
		return fmt.Errorf("must not be negative")
	}
	return nil
}

// parseBytes takes "1048576", "512k", "100m", "1g" (case-insensitive, optional "b"), or -1.
func parseBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	t := strings.TrimSuffix(strings.ToLower(s), "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult, t = 1<<10, t[:n-1]
		case 'm':
			mult, t = 1<<20, t[:n-1]
		case 'g':
			mult, t = 1<<30, t[:n-1]
		case 't':
			mult, t = 1<<40, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return int64(v * float64(mult)), nil
}
