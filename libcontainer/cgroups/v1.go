package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

func (m *Manager) memoryV1(r *configs.Resources) error {
	dir, mem := m.v1Dir("memory"), r.Memory
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && mem.Limit != nil && *mem.Limit > 0 {
		if usage, err := readUint(dir, "memory.usage_in_bytes"); err == nil && usage > uint64(*mem.Limit) {
			return fmt.Errorf("memory.limit %d is below the current usage %d", *mem.Limit, usage)
		}
	}
	if mem.Limit != nil || mem.Swap != nil {
		// memsw must stay >= limit at every step: try one order, then the other.
		setLimit := func() error {
			if mem.Limit == nil {
				return nil
			}
			return m.writeFile(dir, "memory.limit_in_bytes", fmtInt(*mem.Limit))
		}
		setSwap := func() error {
			if mem.Swap == nil {
				return nil
			}
			if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err != nil {
				return fmt.Errorf("memory.swap: this kernel has no swap accounting")
			}
			return m.writeFile(dir, "memory.memsw.limit_in_bytes", fmtInt(*mem.Swap))
		}
		if err := setLimit(); err != nil {
			if err2 := setSwap(); err2 != nil {
				return err
			}
			if err := setLimit(); err != nil {
				return err
			}
		} else if err := setSwap(); err != nil {
			return err
		}
	}
	// kmem.tcp still limits TCP buffers on v1; kmem.limit_in_bytes is ignored since 6.x (see Set).
	if err := m.writeSettings(dir, intSetting("memory.soft_limit_in_bytes", mem.Reservation),
		uintSetting("memory.swappiness", mem.Swappiness),
		intSetting("memory.kmem.tcp.limit_in_bytes", mem.KernelTCP)); err != nil {
		return err
	}
	if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
		if err := m.writeFile(dir, "memory.oom_control", "1"); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) cpuV1(r *configs.Resources) error {
	c := r.CPU
	// The period before the quota: the kernel checks the quota against it.
	return m.writeSettings(m.v1Dir("cpu"),
		uintSetting("cpu.shares", c.Shares),
		uintSetting("cpu.cfs_period_us", c.Period),
		intSetting("cpu.cfs_quota_us", c.Quota),
		uintSetting("cpu.cfs_burst_us", c.Burst),
		uintSetting("cpu.rt_period_us", c.RealtimePeriod),
		intSetting("cpu.rt_runtime_us", c.RealtimeRuntime),
		intSetting("cpu.idle", c.Idle))
}

func (m *Manager) cpusetV1(r *configs.Resources) error {
	return m.writeSettings(m.v1Dir("cpuset"), strSetting("cpuset.cpus", r.CPU.Cpus), strSetting("cpuset.mems", r.CPU.Mems))
}

func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return fmtInt(limit)
}

func (m *Manager) pidsV1(r *configs.Resources) error {
	return m.writeFile(m.v1Dir("pids"), "pids.max", pidsMax(*r.PidsLimit))
}

func (m *Manager) blkioV1(r *configs.Resources) error {
	dir, b := m.v1Dir("blkio"), r.BlockIO
	// Without CFQ/BFQ the kernel has no blkio.weight; the bfq files are tried first.
	weightFile := func(name string) string {
		if _, err := os.Stat(filepath.Join(dir, "blkio.bfq."+name)); err == nil {
			return "blkio.bfq." + name
		}
		return "blkio." + name
	}
	if b.Weight != nil {
		if err := m.writeFile(dir, weightFile("weight"), fmtUint(uint64(*b.Weight))); err != nil {
			return err
		}
	}
	if b.LeafWeight != nil {
		if err := m.writeFile(dir, "blkio.leaf_weight", fmtUint(uint64(*b.LeafWeight))); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			if err := m.writeFile(dir, weightFile("weight_device"), fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
				return err
			}
		}
		if d.LeafWeight != nil {
			if err := m.writeFile(dir, "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight)); err != nil {
				return err
			}
		}
	}
	throttles := []struct {
		file string
		devs []configs.ThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	}
	for _, t := range throttles {
		for _, d := range t.devs {
			if err := m.writeFile(dir, t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) hugetlbV1(r *configs.Resources) error {
	for _, h := range r.HugepageLimits {
		if err := m.writeFile(m.v1Dir("hugetlb"), "hugetlb."+h.PageSize+".limit_in_bytes", fmtUint(h.Limit)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) rdmaV1(r *configs.Resources) error {
	return m.writeFile(m.v1Dir("rdma"), "rdma.max", rdmaLines(r.Rdma))
}

func rdmaLines(rdma map[string]configs.Rdma) string {
	var b strings.Builder
	for dev, l := range rdma {
		b.WriteString(dev)
		if l.HcaHandles != nil {
			fmt.Fprintf(&b, " hca_handle=%d", *l.HcaHandles)
		}
		if l.HcaObjects != nil {
			fmt.Fprintf(&b, " hca_object=%d", *l.HcaObjects)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// devicesV1 writes the rules in order: each allow to devices.allow, each deny to devices.deny.
// devicesV1 writes the rules in order, one per write (the kernel parses one
// rule a write), each file opened once: a dozen rules were a dozen opens of
// devices.allow, each a path lookup in cgroupfs.
func (m *Manager) devicesV1(r *configs.Resources) error {
	dir := m.v1Dir("devices")
	fds := map[string]int{}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, d := range r.Devices {
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		rule := deviceRuleString(d)
		fd, open := fds[file]
		if !open {
			var err error
			dirfd, rel := m.at(filepath.Join(dir, file))
			if fd, err = unix.Openat(dirfd, rel, unix.O_WRONLY|unix.O_CLOEXEC, 0); err != nil {
				// writeFile says what went wrong, as for any cgroup file.
				if err := m.writeFile(dir, file, rule); err != nil {
					return err
				}
				continue
			}
			fds[file] = fd
		}
		if _, err := unix.Write(fd, []byte(rule)); err != nil {
			return fmt.Errorf("write %q to %s: %w", rule, filepath.Join(dir, file), err)
		}
	}
	return nil
}

func deviceRuleString(d configs.DeviceRule) string {
	if d.Type == 'a' {
		return "a *:* " + d.Access
	}
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return fmtInt(n)
	}
	return fmt.Sprintf("%c %s:%s %s", d.Type, num(d.Major), num(d.Minor), d.Access)
}

func (m *Manager) netClsV1(r *configs.Resources) error {
	return m.writeFile(m.v1Dir("net_cls"), "net_cls.classid", fmtUint(uint64(*r.NetClassID)))
}

func (m *Manager) netPrioV1(r *configs.Resources) error {
	for _, p := range r.NetPriorities {
		if err := m.writeFile(m.v1Dir("net_prio"), "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
			return err
		}
	}
	return nil
}

// freezeV1 writes freezer.state and waits until the kernel reports it.
func (m *Manager) freezeV1(want string) error {
	dir := m.v1Dir("freezer")
	deadline := time.Now().Add(10 * time.Second)
	for delay := 100 * time.Microsecond; ; delay = min(delay*2, 10*time.Millisecond) {
		if err := m.writeFile(dir, "freezer.state", want); err != nil {
			return err
		}
		state, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(state)) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("freezer did not settle in 10s")
		}
		time.Sleep(delay)
	}
}

// frozenV1 reports whether the v1 freezer holds the cgroup.
func (m *Manager) frozenV1() bool {
	state, err := os.ReadFile(filepath.Join(m.v1Dir("freezer"), "freezer.state"))
	return err == nil && strings.TrimSpace(string(state)) == "FROZEN"
}

// oomEventFdV1 registers an eventfd that fires on every OOM in the cgroup.
func (m *Manager) oomEventFdV1() (int, error) {
	dir := m.v1Dir("memory")
	oc, err := unix.Open(filepath.Join(dir, "memory.oom_control"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(oc)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return -1, err
	}
	if err := m.writeFile(dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, oc)); err != nil {
		unix.Close(efd)
		return -1, err
	}
	return efd, nil
}
