package libcontainer

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/capabilities"
	"github.com/ocirun/ocirun/libcontainer/configs"
)

// dropPrivileges becomes the process's user with exactly its capabilities:
// bounding set first (needs CAP_SETPCAP), then groups and ids with
// PR_SET_KEEPCAPS so the permitted set survives, then the other sets.
func dropPrivileges(p *configs.Process) error {
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
	if err := switchUser(p); err != nil {
		return err
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
// to every thread of the process, not just this one.
func switchUser(p *configs.Process) error {
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
