package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/cgroups/devices"
	"github.com/ocirun/ocirun/libcontainer/configs"
)

// createV2 makes the unified directory and enables, in every ancestor's
// cgroup.subtree_control, the controllers the hierarchy offers.
func (m *Manager) createV2() error {
	dir := m.v2Dir()
	rel := strings.Trim(m.path, "/")
	parts := strings.Split(rel, "/")
	cur := m.layout.V2
	var want []string
	for c := range m.layout.V2Controllers {
		if m.onV2(c) || m.layout.Unified {
			want = append(want, "+"+c)
		}
	}
	for _, p := range parts {
		if len(want) > 0 {
			// One write for all: a controller that cannot be enabled is skipped on retry.
			if err := m.writeFile(cur, "cgroup.subtree_control", strings.Join(want, " ")); err != nil {
				for _, w := range want {
					m.writeFile(cur, "cgroup.subtree_control", w)
				}
			}
		}
		cur = filepath.Join(cur, p)
		if err := m.mkdir(cur); err != nil && !os.IsExist(err) {
			return fmt.Errorf("create cgroup %s: %w", cur, err)
		}
	}
	if cur != dir {
		return fmt.Errorf("cgroup path %s resolved to %s", dir, cur)
	}
	return nil
}

// HasV2 reports whether the host has a cgroup2 hierarchy (unified or hybrid).
func (m *Manager) HasV2() bool { return m.layout.V2 != "" }

// OpenV2Dir opens the container's directory in the cgroup2 hierarchy (on a
// unified or a hybrid host), for clone3's CLONE_INTO_CGROUP.
func (m *Manager) OpenV2Dir() (*os.File, error) {
	if m.layout.V2 == "" {
		return nil, errors.New("no cgroup2 hierarchy")
	}
	return m.openFile(m.v2Dir(), unix.O_RDONLY|unix.O_DIRECTORY)
}

func (m *Manager) memoryV2(r *configs.Resources) error {
	dir, mem := m.v2Dir(), r.Memory
	if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
		return errors.New("memory.disableOOMKiller: cgroup v2 has no way to disable the OOM killer")
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && mem.Limit != nil && *mem.Limit > 0 {
		if usage, err := readUint(dir, "memory.current"); err == nil && usage > uint64(*mem.Limit) {
			return fmt.Errorf("memory.limit %d is below the current usage %d", *mem.Limit, usage)
		}
	}
	if mem.Swap != nil {
		swap, err := swapV2(mem.Swap, mem.Limit)
		if err != nil {
			return err
		}
		if err := m.writeFile(dir, "memory.swap.max", swap); err != nil {
			return err
		}
	}
	if mem.Limit != nil {
		if err := m.writeFile(dir, "memory.max", maxOr(*mem.Limit)); err != nil {
			return err
		}
	}
	if mem.Reservation != nil {
		if err := m.writeFile(dir, "memory.low", maxOr(*mem.Reservation)); err != nil {
			return err
		}
	}
	return nil
}

// swapV2 converts runtime-spec's memory+swap to v2's swap-only memory.swap.max, as runc does.
func swapV2(swap, limit *int64) (string, error) {
	switch {
	case *swap == -1:
		return "max", nil
	case *swap == 0:
		return "0", nil
	case limit == nil || *limit <= 0:
		return "", errors.New("memory.swap: needs memory.limit on cgroup v2 (it counts memory and swap together)")
	case *swap < *limit:
		return "", fmt.Errorf("memory.swap %d is below memory.limit %d", *swap, *limit)
	}
	return fmtInt(*swap - *limit), nil
}

func maxOr(v int64) string {
	if v < 0 {
		return "max"
	}
	return fmtInt(v)
}

// SharesToWeight converts cgroup v1 cpu.shares [2, 262144] to v2 cpu.weight
// [1, 10000] with runc's formula, so both map the default 1024 to 100.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares <= 2 {
		return 1
	}
	if shares >= 262144 {
		return 10000
	}
	return 1 + ((shares-2)*9999)/262142
}

func (m *Manager) cpuV2(r *configs.Resources) error {
	dir, c := m.v2Dir(), r.CPU
	if c.RealtimeRuntime != nil || c.RealtimePeriod != nil {
		return errors.New("cpu.realtimeRuntime and realtimePeriod: cgroup v2 has no realtime scheduler limits")
	}
	if c.Shares != nil {
		if err := m.writeFile(dir, "cpu.weight", fmtUint(SharesToWeight(*c.Shares))); err != nil {
			return err
		}
	}
	if c.Quota != nil || c.Period != nil {
		quota, period := "max", ""
		if c.Quota != nil && *c.Quota > 0 {
			quota = fmtInt(*c.Quota)
		}
		if c.Period != nil {
			period = " " + fmtUint(*c.Period)
		}
		if err := m.writeFile(dir, "cpu.max", quota+period); err != nil {
			return err
		}
	}
	return m.writeSettings(dir, uintSetting("cpu.max.burst", c.Burst), intSetting("cpu.idle", c.Idle))
}

func (m *Manager) cpusetV2(r *configs.Resources) error {
	return m.writeSettings(m.v2Dir(), strSetting("cpuset.cpus", r.CPU.Cpus), strSetting("cpuset.mems", r.CPU.Mems))
}

func (m *Manager) pidsV2(r *configs.Resources) error {
	return m.writeFile(m.v2Dir(), "pids.max", pidsMax(*r.PidsLimit))
}

// ioV2 maps blockIO onto io.weight (io.bfq.weight where BFQ runs) and io.max.
func (m *Manager) ioV2(r *configs.Resources) error {
	dir, b := m.v2Dir(), r.BlockIO
	weightFile := "io.weight"
	if _, err := os.Stat(filepath.Join(dir, "io.bfq.weight")); err == nil {
		weightFile = "io.bfq.weight"
	}
	if b.Weight != nil {
		w := uint64(*b.Weight)
		if weightFile == "io.weight" {
			w = 1 + (w-10)*9999/990 // [10, 1000] → [1, 10000]
		}
		if err := m.writeFile(dir, weightFile, "default "+fmtUint(w)); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			if err := m.writeFile(dir, weightFile, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
				return err
			}
		}
	}
	limits := []struct {
		key  string
		devs []configs.ThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice}, {"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice}, {"wiops", b.ThrottleWriteIOPSDevice},
	}
	for _, l := range limits {
		for _, d := range l.devs {
			if err := m.writeFile(dir, "io.max", fmt.Sprintf("%d:%d %s=%d", d.Major, d.Minor, l.key, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) hugetlbV2(r *configs.Resources) error {
	dir := m.v2Dir()
	for _, h := range r.HugepageLimits {
		if err := m.writeFile(dir, "hugetlb."+h.PageSize+".max", fmtUint(h.Limit)); err != nil {
			return err
		}
		// Reservations are charged too where the kernel accounts them.
		if _, err := os.Stat(filepath.Join(dir, "hugetlb."+h.PageSize+".rsvd.max")); err == nil {
			if err := m.writeFile(dir, "hugetlb."+h.PageSize+".rsvd.max", fmtUint(h.Limit)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) rdmaV2(r *configs.Resources) error {
	return m.writeFile(m.v2Dir(), "rdma.max", rdmaLines(r.Rdma))
}

// devicesV2 attaches an eBPF device program built from the rules.
func (m *Manager) devicesV2(r *configs.Resources) error {
	return devices.Attach(m.v2Dir(), r.Devices)
}

// freezeV2 writes cgroup.freeze and waits until cgroup.events says so.
func (m *Manager) freezeV2(freeze bool) error {
	dir, want := m.v2Dir(), "0"
	if freeze {
		want = "1"
	}
	if err := m.writeFile(dir, "cgroup.freeze", want); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for delay := 100 * time.Microsecond; ; delay = min(delay*2, 10*time.Millisecond) {
		if ev := readKV(dir, "cgroup.events"); fmtUint(ev["frozen"]) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("cgroup.freeze did not settle in 10s")
		}
		time.Sleep(delay)
	}
}

func (m *Manager) frozenV2() bool {
	return readKV(m.v2Dir(), "cgroup.events")["frozen"] == 1
}
