package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Freeze stops every process of the cgroup and returns once the kernel reports it frozen.
func (m *Manager) Freeze() error {
	if m.v1Dir("freezer") != "" {
		return m.freezeV1("FROZEN")
	}
	if m.layout.V2 != "" && (m.layout.Unified || fileExists(filepath.Join(m.v2Dir(), "cgroup.freeze"))) {
		return m.freezeV2(true)
	}
	return errors.New("no freezer on this host")
}

// Thaw lets a frozen cgroup run again.
func (m *Manager) Thaw() error {
	if m.v1Dir("freezer") != "" {
		return m.freezeV1("THAWED")
	}
	if m.layout.V2 != "" {
		return m.freezeV2(false)
	}
	return errors.New("no freezer on this host")
}

// Frozen reports whether the cgroup is frozen.
func (m *Manager) Frozen() bool {
	if m.v1Dir("freezer") != "" {
		return m.frozenV1()
	}
	if m.layout.V2 != "" {
		return m.frozenV2()
	}
	return false
}

// KillAll signals every process of the cgroup: SIGKILL through cgroup.kill
// where the kernel has it; otherwise the cgroup is frozen first so no
// process can fork away while we go through cgroup.procs.
func (m *Manager) KillAll(sig unix.Signal) error {
	if sig == unix.SIGKILL && m.layout.V2 != "" {
		if err := m.writeFile(m.v2Dir(), "cgroup.kill", "1"); err == nil {
			return nil
		}
	}
	frozen := m.Freeze() == nil
	pids, err := m.Pids() // with an error, those found still get the signal
	for _, p := range pids {
		unix.Kill(p, sig)
	}
	if frozen {
		if terr := m.Thaw(); err == nil {
			err = terr
		}
	}
	return err
}

// OOMKills returns how many processes the kernel OOM-killed in the cgroup.
func (m *Manager) OOMKills() uint64 {
	if dir := m.v1Dir("memory"); dir != "" {
		return readKV(dir, "memory.oom_control")["oom_kill"]
	}
	if m.layout.V2 != "" {
		return readKV(m.v2Dir(), "memory.events")["oom_kill"]
	}
	return 0
}

// OOMNotifier returns an fd that becomes readable when an OOM happens in the
// cgroup: an eventfd on v1, an inotify watch of memory.events on v2.
func (m *Manager) OOMNotifier() (int, error) {
	if m.v1Dir("memory") != "" {
		return m.oomEventFdV1()
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Join(m.v2Dir(), "memory.events"), unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ProcsOf reads the pids in one cgroup directory.
func ProcsOf(dir string) []int {
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if p, err := strconv.Atoi(f); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// FreezerDir is the directory whose freezer holds the whole container: the
// v1 freezer hierarchy's, or the unified one's. CRIU freezes through it.
func (m *Manager) FreezerDir() string {
	if d := m.v1Dir("freezer"); d != "" {
		return d
	}
	return m.v2Dir()
}
