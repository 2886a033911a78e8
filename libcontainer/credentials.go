package libcontainer

import (
	"fmt"
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
