package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

func cleanPath(p string) string { return path.Clean("/" + p) }

// mountInRoot performs one spec mount inside the rootfs. The target is
// created and resolved inside the root (a symlink in the rootfs never sends a
// mount outside it) and mounted through its file descriptor.
func mountInRoot(root *os.File, m *configs.Mount, userns bool) error {
	dest := cleanPath(m.Destination)
	target, err := mountTarget(root, m, dest)
	if err != nil {
		return fmt.Errorf("mount %q on %q: create target: %w", m.Source, dest, err)
	}
	defer target.Close()
	switch {
	case m.IsBind():
		err = bindMount(root, m, dest, target)
	case m.Type == "cgroup" || m.Type == "cgroup2":
		err = mountCgroup(root, m, dest, target, userns)
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

// bindMount binds the source, then remounts it when the options ask for more than a bind.
func bindMount(root *os.File, m *configs.Mount, dest string, target *os.File) error {
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
