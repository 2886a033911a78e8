package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats is the JSON runc's `events --stats` prints under "data".
type Stats struct {
	CPU     CPUStats           `json:"cpu"`
	Memory  MemoryStats        `json:"memory"`
	Pids    PidsStats          `json:"pids"`
	Blkio   BlkioStats         `json:"blkio"`
	Hugetlb map[string]Hugetlb `json:"hugetlb"`
}

type CPUStats struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
}

type CPUUsage struct {
	Percpu []uint64 `json:"percpu_usage,omitempty"`
	Total  uint64   `json:"total,omitempty"`
	Kernel uint64   `json:"kernel"`
	User   uint64   `json:"user"`
}

type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttled_periods,omitempty"`
	ThrottledTime    uint64 `json:"throttled_time,omitempty"`
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type MemoryStats struct {
	Cache  uint64            `json:"cache,omitempty"`
	Usage  MemoryEntry       `json:"usage,omitempty"`
	Swap   MemoryEntry       `json:"swap,omitempty"`
	Kernel MemoryEntry       `json:"kernel,omitempty"`
	Raw    map[string]uint64 `json:"raw,omitempty"`
	// OOMKills is ocirun's addition: processes the kernel killed for memory.
	OOMKills uint64 `json:"oom_kill,omitempty"`
}

type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type BlkioStats struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
}

type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Stats reads usage from every hierarchy that holds it.
func (m *Manager) Stats() (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	v2 := m.v2Dir()
	if dir := m.v1Dir("cpuacct"); dir != "" {
		s.CPU.Usage.Total, _ = readUint(dir, "cpuacct.usage")
		if data, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage_percpu")); err == nil {
			for _, f := range strings.Fields(string(data)) {
				v, _ := strconv.ParseUint(f, 10, 64)
				s.CPU.Usage.Percpu = append(s.CPU.Usage.Percpu, v)
			}
		}
		st := readKV(dir, "cpuacct.stat") // in USER_HZ ticks
		s.CPU.Usage.User, s.CPU.Usage.Kernel = st["user"]*1e7, st["system"]*1e7
	} else if v2 != "" {
		st := readKV(v2, "cpu.stat")
		s.CPU.Usage.Total, s.CPU.Usage.User, s.CPU.Usage.Kernel = st["usage_usec"]*1000, st["user_usec"]*1000, st["system_usec"]*1000
		s.CPU.Throttling = Throttling{st["nr_periods"], st["nr_throttled"], st["throttled_usec"] * 1000}
	}
	if dir := m.v1Dir("cpu"); dir != "" {
		st := readKV(dir, "cpu.stat")
		s.CPU.Throttling = Throttling{st["nr_periods"], st["nr_throttled"], st["throttled_time"]}
	}
	if dir := m.v1Dir("memory"); dir != "" {
		entry := func(prefix string) MemoryEntry {
			var e MemoryEntry
			e.Usage, _ = readUint(dir, prefix+"usage_in_bytes")
			e.Max, _ = readUint(dir, prefix+"max_usage_in_bytes")
			e.Limit, _ = readUint(dir, prefix+"limit_in_bytes")
			e.Failcnt, _ = readUint(dir, prefix+"failcnt")
			return e
		}
		s.Memory.Usage, s.Memory.Swap, s.Memory.Kernel = entry("memory."), entry("memory.memsw."), entry("memory.kmem.")
		s.Memory.Raw = readKV(dir, "memory.stat")
		s.Memory.Cache = s.Memory.Raw["total_cache"]
	} else if v2 != "" {
		s.Memory.Usage.Usage, _ = readUint(v2, "memory.current")
		s.Memory.Usage.Limit, _ = readUint(v2, "memory.max")
		s.Memory.Usage.Max, _ = readUint(v2, "memory.peak")
		s.Memory.Swap.Usage, _ = readUint(v2, "memory.swap.current")
		s.Memory.Swap.Limit, _ = readUint(v2, "memory.swap.max")
		s.Memory.Usage.Failcnt = readKV(v2, "memory.events")["max"]
		s.Memory.Raw = readKV(v2, "memory.stat")
		s.Memory.Cache = s.Memory.Raw["file"]
	}
	s.Memory.OOMKills = m.OOMKills()
	pidsDir := m.v1Dir("pids")
	if pidsDir == "" {
		pidsDir = v2
	}
	if pidsDir != "" {
		s.Pids.Current, _ = readUint(pidsDir, "pids.current")
		s.Pids.Limit, _ = readUint(pidsDir, "pids.max")
	}
	if dir := m.v1Dir("blkio"); dir != "" {
		s.Blkio.IoServiceBytesRecursive = blkioV1(dir, "blkio.throttle.io_service_bytes_recursive")
		s.Blkio.IoServicedRecursive = blkioV1(dir, "blkio.throttle.io_serviced_recursive")
	} else if v2 != "" {
		s.Blkio.IoServiceBytesRecursive, s.Blkio.IoServicedRecursive = ioStatV2(v2)
	}
	m.hugetlbStats(s)
	return s, nil
}

func blkioV1(dir, file string) []BlkioEntry {
	data, _ := os.ReadFile(filepath.Join(dir, file))
	var out []BlkioEntry
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		maj, min, _ := strings.Cut(f[0], ":")
		e := BlkioEntry{Op: f[1]}
		e.Major, _ = strconv.ParseUint(maj, 10, 64)
		e.Minor, _ = strconv.ParseUint(min, 10, 64)
		e.Value, _ = strconv.ParseUint(f[2], 10, 64)
		out = append(out, e)
	}
	return out
}

// ioStatV2 turns io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...") into runc's entries.
func ioStatV2(dir string) (bytes, ios []BlkioEntry) {
	data, _ := os.ReadFile(filepath.Join(dir, "io.stat"))
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, _ := strings.Cut(f[0], ":")
		ma, _ := strconv.ParseUint(maj, 10, 64)
		mi, _ := strconv.ParseUint(min, 10, 64)
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "rbytes":
				bytes = append(bytes, BlkioEntry{ma, mi, "Read", n})
			case "wbytes":
				bytes = append(bytes, BlkioEntry{ma, mi, "Write", n})
			case "rios":
				ios = append(ios, BlkioEntry{ma, mi, "Read", n})
			case "wios":
				ios = append(ios, BlkioEntry{ma, mi, "Write", n})
			}
		}
	}
	return bytes, ios
}

// hugetlbStats reads each page size's usage, from v1 or v2.
func (m *Manager) hugetlbStats(s *Stats) {
	dir, v1 := m.v1Dir("hugetlb"), true
	if dir == "" {
		dir, v1 = m.v2Dir(), false
	}
	if dir == "" {
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "hugetlb.") {
			continue
		}
		parts := strings.Split(name, ".")
		if len(parts) != 3 {
			continue
		}
		size := parts[1]
		h := s.Hugetlb[size]
		switch {
		case v1 && parts[2] == "usage_in_bytes":
			h.Usage, _ = readUint(dir, name)
		case v1 && parts[2] == "max_usage_in_bytes":
			h.Max, _ = readUint(dir, name)
		case v1 && parts[2] == "failcnt":
			h.Failcnt, _ = readUint(dir, name)
		case !v1 && parts[2] == "current":
			h.Usage, _ = readUint(dir, name)
		case !v1 && parts[2] == "events":
			h.Failcnt = readKV(dir, name)["max"]
		default:
			continue
		}
		s.Hugetlb[size] = h
	}
}
