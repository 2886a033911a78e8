package libcontainer

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/capabilities"
	"github.com/ocirun/ocirun/libcontainer/configs"
)

// dropPrivileges becomes the process's user with exactly its capabilities:
// bounding set first (needs CAP_SETPCAP), then groups and ids with
// PR_SET_KEEPCAPS so the permitted set survives, then the other sets.
// execNext says this thread execs next or the process exits: see switchUser.
// asUser, if set, runs once the ids are switched, with the capabilities
// kept across the switch in effect (loading a seccomp filter without
// no_new_privs needs CAP_SYS_ADMIN), before the process's own sets apply.
func dropPrivileges(p *configs.Process, execNext bool, asUser func() error) error {
	caps := p.Capabilities
	if caps == nil {
		caps = &configs.Capabilities{}
	}
	if err := capabilities.DropBounding(caps.Bounding); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set keepcaps: %w", err)
	}
	if err := switchUser(p, execNext); err != nil {
		return err
	}
	if asUser != nil {
		if err := capabilities.RaiseEffective(); err != nil {
			return err
		}
		if err := asUser(); err != nil {
			return err
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	return capabilities.Apply(capabilities.Sets{
		Bounding: caps.Bounding, Effective: caps.Effective, Inheritable: caps.Inheritable,
		Permitted: caps.Permitted, Ambient: caps.Ambient,
	})
}

// switchUser sets groups, gid and uid. Go's syscall package applies these
// to every thread of the process (the C library signals each thread to make
// the call: under musl, ~1 ms for the three here). When this thread execs
// next (the waiter, the process of `exec`), or the process exits because that
// exec failed, only this thread's credentials ever reach anything: the exec
// ends the other threads, Go's own, which run no container code and were
// root until now anyway. Then the three calls are made on this thread alone.
// Where the Go init goes on waiting for start, every thread switches.
func switchUser(p *configs.Process, thisThreadOnly bool) error {
	if thisThreadOnly {
		return switchThreadUser(p)
	}
	groups := make([]int, len(p.AdditionalGids))
	for i, g := range p.AdditionalGids {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("set process.user.additionalGids %v: %w", p.AdditionalGids, err)
	}
	if err := syscall.Setresgid(int(p.GID), int(p.GID), int(p.GID)); err != nil {
		return fmt.Errorf("set process.user.gid %d: %w", p.GID, err)
	}
	if err := syscall.Setresuid(int(p.UID), int(p.UID), int(p.UID)); err != nil {
		return fmt.Errorf("set process.user.uid %d: %w", p.UID, err)
	}
	return nil
}

// switchThreadUser makes setgroups, setresgid and setresuid on the calling
// thread only (the kernel's credentials are per thread; the goroutine is
// locked to it).
func switchThreadUser(p *configs.Process) error {
	groups := append([]uint32{}, p.AdditionalGids...)
	var list unsafe.Pointer
	if len(groups) > 0 {
		list = unsafe.Pointer(&groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(list), 0); e != 0 {
		return fmt.Errorf("set process.user.additionalGids %v: %w", p.AdditionalGids, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(p.GID), uintptr(p.GID), uintptr(p.GID)); e != 0 {
		return fmt.Errorf("set process.user.gid %d: %w", p.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(p.UID), uintptr(p.UID), uintptr(p.UID)); e != 0 {
		return fmt.Errorf("set process.user.uid %d: %w", p.UID, e)
	}
	return nil
}

// dropUngrantable removes from every set the capabilities missing from
// ocirun's own bounding set, with a warning: runtime-spec v1.3.0 (config.md,
// Linux process) wants capabilities that cannot be granted logged as a
// warning, and the runtime not to fail.
func dropUngrantable(c *configs.Capabilities) {
	if c == nil {
		return
	}
	dropped := map[int]bool{}
	keep := func(set []int) []int {
		var out []int
		for _, n := range set {
			if capabilities.InBounding(n) {
				out = append(out, n)
			} else {
				dropped[n] = true
			}
		}
		return out
	}
	c.Bounding, c.Effective, c.Inheritable = keep(c.Bounding), keep(c.Effective), keep(c.Inheritable)
	c.Permitted, c.Ambient = keep(c.Permitted), keep(c.Ambient)
	var names []string
	for n := range dropped {
		names = append(names, capabilities.Name(n))
	}
	if len(names) > 0 {
		sort.Strings(names)
		slog.Warn("process.capabilities: not in ocirun's own bounding set on this host, left out: " + strings.Join(names, ", "))
	}
}
