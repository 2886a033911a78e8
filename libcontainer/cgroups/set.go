package cgroups

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// Set writes every limit in r, each to the hierarchy that holds its
// controller. A limit for a controller the host does not have is an error.
func (m *Manager) Set(r *configs.Resources) error {
	return m.set(r, func(string) bool { return true })
}

// SetEarly writes the limits a process must find in the cgroup when it
// joins: memory's (a limit written below what the cgroup already uses makes
// the kernel reclaim or kill) and the raw unified files, which may be
// memory's. SetLate writes the others, which apply as well once a process
// is in: create writes them while its init starts.
func (m *Manager) SetEarly(r *configs.Resources) error {
	return m.set(r, func(c string) bool { return c == "memory" || c == "unified" })
}

// SetLate writes what SetEarly does not.
func (m *Manager) SetLate(r *configs.Resources) error {
	return m.set(r, func(c string) bool { return c != "memory" && c != "unified" })
}

func (m *Manager) set(r *configs.Resources, want func(controller string) bool) error {
	if r == nil {
		return nil
	}
	steps := []struct {
		controller string
		needed     bool
		v1, v2     func(*configs.Resources) error
	}{
		{"memory", r.Memory != nil, m.memoryV1, m.memoryV2},
		{"cpu", r.CPU != nil && (r.CPU.Shares != nil || r.CPU.Quota != nil || r.CPU.Period != nil || r.CPU.Burst != nil || r.CPU.RealtimeRuntime != nil || r.CPU.RealtimePeriod != nil || r.CPU.Idle != nil), m.cpuV1, m.cpuV2},
		{"cpuset", r.CPU != nil && (r.CPU.Cpus != "" || r.CPU.Mems != ""), m.cpusetV1, m.cpusetV2},
		{"pids", r.PidsLimit != nil, m.pidsV1, m.pidsV2},
		{"blkio", r.BlockIO != nil, m.blkioV1, nil},
		{"io", r.BlockIO != nil, nil, m.ioV2},
		{"hugetlb", len(r.HugepageLimits) > 0, m.hugetlbV1, m.hugetlbV2},
		{"rdma", len(r.Rdma) > 0, m.rdmaV1, m.rdmaV2},
		{"devices", len(r.Devices) > 0, m.devicesV1, m.devicesV2},
		{"net_cls", r.NetClassID != nil, m.netClsV1, nil},
		{"net_prio", len(r.NetPriorities) > 0, m.netPrioV1, nil},
	}
	for _, s := range steps {
		if !s.needed || !want(s.controller) {
			continue
		}
		var err error
		switch {
		case s.v1 != nil && m.v1Dir(s.controller) != "":
			err = s.v1(r)
		case s.v2 != nil && s.controller == "devices" && m.layout.Unified:
			err = s.v2(r) // v2 has no devices controller: an eBPF program does it
		case s.v2 != nil && m.onV2(v2Name(s.controller)):
			err = s.v2(r)
		case s.controller == "blkio" || s.controller == "io":
			continue // one of the pair applies; checked below
		default:
			err = fmt.Errorf("the %s controller is not available on this host", s.controller)
		}
		if err != nil {
			return fmt.Errorf("linux.resources: %w", err)
		}
	}
	if r.BlockIO != nil && want("blkio") && m.v1Dir("blkio") == "" && !m.onV2("io") {
		return fmt.Errorf("linux.resources: the blkio/io controller is not available on this host")
	}
	if len(r.Unified) > 0 && want("unified") {
		if m.layout.V2 == "" {
			return fmt.Errorf("linux.resources.unified: this host has no cgroup v2 hierarchy")
		}
		for k, v := range r.Unified {
			if err := m.writeFile(m.v2Dir(), k, v); err != nil {
				return fmt.Errorf("linux.resources.unified: %w", err)
			}
		}
	}
	if r.Memory != nil && r.Memory.Kernel != nil && want("memory") {
		slog.Warn("linux.resources.memory.kernel is ignored: kernels since 6.0 have no kernel memory limit")
	}
	if r.Memory != nil && r.Memory.KernelTCP != nil && want("memory") && m.v1Dir("memory") == "" {
		slog.Warn("linux.resources.memory.kernelTCP is ignored: cgroup v2 has no separate TCP buffer limit (memory.max counts it)")
	}
	return nil
}

// v2Name maps v1 controller names to their v2 names.
func v2Name(c string) string {
	if c == "blkio" {
		return "io"
	}
	return c
}

func fmtInt(v int64) string   { return strconv.FormatInt(v, 10) }
func fmtUint(v uint64) string { return strconv.FormatUint(v, 10) }

// setting is one cgroup file to write, when the config sets it.
type setting struct {
	file  string
	value string
	set   bool
}

func intSetting(file string, v *int64) setting {
	if v == nil {
		return setting{file: file}
	}
	return setting{file, fmtInt(*v), true}
}

func uintSetting(file string, v *uint64) setting {
	if v == nil {
		return setting{file: file}
	}
	return setting{file, fmtUint(*v), true}
}

func strSetting(file, v string) setting { return setting{file, v, v != ""} }

// writeSettings writes, in order, every setting the config sets.
func (m *Manager) writeSettings(dir string, settings ...setting) error {
	for _, s := range settings {
		if s.set {
			if err := m.writeFile(dir, s.file, s.value); err != nil {
				return err
			}
		}
	}
	return nil
}
