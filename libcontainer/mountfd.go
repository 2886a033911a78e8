package libcontainer

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Mounts made after pivot_root go through file descriptors with the new
// mount API, so nothing is resolved twice by path: what we checked is what
// gets mounted on (CVE-2025-31133, CVE-2025-52565).

// openInContainer opens p inside the container's root (we are past
// pivot_root, so "/" is it) as O_PATH, never leaving the root through a
// symlink and never following /proc's magic links.
func openInContainer(p string, noSymlinks bool) (*os.File, error) {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	if noSymlinks {
		how.Resolve |= unix.RESOLVE_NO_SYMLINKS
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, p, how)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

// openDevNull opens the container's /dev/null and checks that it is the
// null device, not a symlink or a file planted to be mounted over masked paths.
func openDevNull() (*os.File, error) {
	f, err := openInContainer("/dev/null", true)
	if err != nil {
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	if err := checkCharDevice(f, 1, 3); err != nil {
		f.Close()
		return nil, fmt.Errorf("/dev/null: %w", err)
	}
	return f, nil
}

// checkCharDevice fails unless f is the character device major:minor.
func checkCharDevice(f *os.File, major, minor uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != major || unix.Minor(st.Rdev) != minor {
		return fmt.Errorf("not the character device %d:%d", major, minor)
	}
	return nil
}

// bindFd bind-mounts src onto dst, both open files (open_tree + move_mount).
func bindFd(src, dst *os.File, recursive bool) error {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(int(src.Fd()), "", uint(flags))
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(tree)
	return moveMountOnto(tree, dst)
}

// readonlyBindFd replaces dst with a recursive read-only bind of itself;
// the copy is read-only before it is attached, so there is no writable window.
func readonlyBindFd(dst *os.File) error {
	tree, err := unix.OpenTree(int(dst.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return fmt.Errorf("mount_setattr read-only: %w", err)
	}
	return moveMountOnto(tree, dst)
}

// readonlyTmpfsFd mounts an empty read-only tmpfs onto dst (to mask a directory).
func readonlyTmpfsFd(dst *os.File) error {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "size", "0"); err != nil {
		return fmt.Errorf("fsconfig tmpfs: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("fsconfig create tmpfs: %w", err)
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return fmt.Errorf("fsmount tmpfs: %w", err)
	}
	defer unix.Close(mnt)
	return moveMountOnto(mnt, dst)
}

func moveMountOnto(tree int, dst *os.File) error {
	if err := unix.MoveMount(tree, "", int(dst.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}
