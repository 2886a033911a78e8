package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

func cleanPath(p string) string { return path.Clean("/" + p) }

// fromParent is set when the parent builds the rootfs from a thread of its
// own (parent_build.go), which is not the container's process: proc mounts
// are made by pid 1 (a proc mount shows its maker's pid namespace), and
// cgroupfs mounts once the thread is in pid 1's cgroup namespace, from
// pid 1's cgroups.
type fromParent struct {
	pid         int
	mountProc   func(m *configs.Mount, target *os.File) error
	enterCgroup func() error
	hierarchies func() ([]*mountinfo.Info, error) // the host's, read once (hierarchiesFrom)
}

// mountInRoot performs one spec mount inside the rootfs. The target is
// created and resolved inside the root (a symlink in the rootfs never sends a
// mount outside it) and mounted through its file descriptor.
func mountInRoot(root *os.File, m *configs.Mount, userns bool, fp *fromParent) error {
	dest := cleanPath(m.Destination)
	target, err := mountTarget(root, m, dest)
	if err != nil {
		return fmt.Errorf("mount %q on %q: create target: %w", m.Source, dest, err)
	}
	defer target.Close()
	switch {
	case m.IsBind():
		err = bindMount(root, m, dest, target)
	case (m.Type == "cgroup" || m.Type == "cgroup2") && fp != nil:
		if err = fp.enterCgroup(); err == nil {
			err = mountCgroup(root, m, dest, target, userns, strconv.Itoa(fp.pid), fp.hierarchies)
		}
	case m.Type == "cgroup" || m.Type == "cgroup2":
		err = mountCgroup(root, m, dest, target, userns, "self", hostHierarchies)
	case m.Type == "proc" && fp != nil:
		err = fp.mountProc(m, target)
	default:
		err = unix.Mount(m.Source, procFdPath(target), m.Type, uintptr(m.Flags&^unix.MS_REC), m.Data)
		if m.Type == "sysfs" && errors.Is(err, unix.EPERM) && userns {
			// A user namespace without its own network namespace may not mount sysfs: bind the host's.
			err = bindMount(root, &configs.Mount{Source: "/sys", Destination: dest,
				Flags: m.Flags | unix.MS_BIND | unix.MS_REC}, dest, target)
		}
	}
	if err != nil {
		return fmt.Errorf("mount %q on %q: %w", m.Source, dest, err)
	}
	if len(m.Propagation) > 0 || m.RecAttrSet != 0 || m.RecAttrClr != 0 {
		if err := mountAttributes(root, m, dest); err != nil {
			return fmt.Errorf("mount %q on %q: %w", m.Source, dest, err)
		}
	}
	return nil
}

// mountTarget makes the mount point: a file when a file is bind-mounted, else a directory.
func mountTarget(root *os.File, m *configs.Mount, dest string) (*os.File, error) {
	if m.IsBind() {
		if st, err := os.Stat(m.Source); err == nil && !st.IsDir() {
			dir, err := mkdirInRoot(root, filepath.Dir(dest), 0o755)
			if err != nil {
				return nil, err
			}
			defer dir.Close()
			// O_NOFOLLOW: a symlink planted at the target is refused, not followed.
			fd, err := unix.Openat(int(dir.Fd()), filepath.Base(dest),
				unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err != nil {
				return nil, err
			}
			return os.NewFile(uintptr(fd), dest), nil
		}
	}
	return mkdirInRoot(root, dest, 0o755)
}

// bindMount binds the source with its options already applied: the copy of
// the source tree gets its attributes (ro, nosuid, ...) before it is attached
// (open_tree, mount_setattr, move_mount), so it is never visible writable.
// Kernels without the new mount API take the bind-then-remount path.
func bindMount(root *os.File, m *configs.Mount, dest string, target *os.File) error {
	err := bindMountDetached(m, target)
	if !errors.Is(err, unix.ENOSYS) {
		return err
	}
	flags := unix.MS_BIND | (m.Flags & unix.MS_REC)
	if err := unix.Mount(m.Source, procFdPath(target), "", uintptr(flags), ""); err != nil {
		return err
	}
	extra := m.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	if extra == 0 {
		return nil
	}
	// Remount the new mount (reopened: the old fd is the directory under it).
	top, err := openInRoot(root, dest)
	if err != nil {
		return fmt.Errorf("reopen bind target: %w", err)
	}
	defer top.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(top.Fd()), &st); err != nil {
		return fmt.Errorf("statfs bind target: %w", err)
	}
	keep := lockedFlags(st.Flags) &^ m.ClearFlags
	remount := unix.MS_BIND | unix.MS_REMOUNT | extra | keep
	if err := unix.Mount("", procFdPath(top), "", uintptr(remount), ""); err != nil {
		return fmt.Errorf("remount bind with options: %w", err)
	}
	return nil
}

// mountAttributes applies propagation flags and recursive attributes (rro, rnosuid, ...) to a new mount.
func mountAttributes(root *os.File, m *configs.Mount, dest string) error {
	top, err := openInRoot(root, dest)
	if err != nil {
		return fmt.Errorf("reopen mount: %w", err)
	}
	defer top.Close()
	for _, p := range m.Propagation {
		if err := unix.Mount("", procFdPath(top), "", uintptr(p), ""); err != nil {
			return fmt.Errorf("set propagation: %w", err)
		}
	}
	if m.RecAttrSet != 0 || m.RecAttrClr != 0 {
		attr := &unix.MountAttr{Attr_set: m.RecAttrSet, Attr_clr: m.RecAttrClr}
		if err := unix.MountSetattr(int(top.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	return nil
}

// msToAttr maps the MS_* flags a bind can carry to MOUNT_ATTR_* bits.
var msToAttr = []struct {
	ms   int
	attr uint64
}{
	{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
	{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME}, {unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// bindAttrs turns a bind mount's flags into mount_setattr's set and clear masks.
func bindAttrs(m *configs.Mount) *unix.MountAttr {
	a := &unix.MountAttr{}
	for _, f := range msToAttr {
		if m.Flags&f.ms != 0 {
			a.Attr_set |= f.attr
		} else if m.ClearFlags&f.ms != 0 {
			a.Attr_clr |= f.attr
		}
	}
	// Access-time flags are one field: set it only when asked.
	switch {
	case m.Flags&unix.MS_NOATIME != 0:
		a.Attr_set, a.Attr_clr = a.Attr_set|unix.MOUNT_ATTR_NOATIME, a.Attr_clr|unix.MOUNT_ATTR__ATIME
	case m.Flags&unix.MS_STRICTATIME != 0:
		a.Attr_set, a.Attr_clr = a.Attr_set|unix.MOUNT_ATTR_STRICTATIME, a.Attr_clr|unix.MOUNT_ATTR__ATIME
	case m.Flags&unix.MS_RELATIME != 0:
		a.Attr_set, a.Attr_clr = a.Attr_set|unix.MOUNT_ATTR_RELATIME, a.Attr_clr|unix.MOUNT_ATTR__ATIME
	}
	return a
}

func bindMountDetached(m *configs.Mount, target *os.File) error {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	if m.Flags&unix.MS_REC != 0 {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, m.Source, uint(flags))
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return err
		}
		return fmt.Errorf("open_tree %s: %w", m.Source, err)
	}
	defer unix.Close(tree)
	if a := bindAttrs(m); a.Attr_set != 0 || a.Attr_clr != 0 {
		// Not recursive: like a remount, the options apply to the top mount (rro and friends recurse).
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, a); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	return moveMountOnto(tree, target)
}
