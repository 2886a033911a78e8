package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// prepareRootfs builds the container's filesystem under cfg.Rootfs while the
// host's tree is still visible: propagation, the rootfs bind, every mount,
// the device nodes and /dev's symlinks.
//
// Without a mount namespace of its own the container inherits the runtime's
// (runtime-spec config-linux.md, Namespaces): its mounts are made there,
// under a bind of the rootfs that keeps them from propagating anywhere, and
// nothing outside the rootfs is touched. Delete detaches that bind
// (releaseSharedRootfs).
//
// fp is set when the parent builds the rootfs (see fromParent).
func prepareRootfs(cfg *configs.Config, fp *fromParent) error {
	ownNS := cfg.Has("mount")
	if ownNS {
		// Our mounts must not propagate back to the host.
		if err := unix.Mount("", "/", "", initialPropagation(cfg.Propagation), ""); err != nil {
			return fmt.Errorf("make / %s: %w", "slave", err)
		}
	}
	// pivot_root needs the new root to be a mount point.
	if err := unix.Mount(cfg.Rootfs, cfg.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s: %w", cfg.Rootfs, err)
	}
	if !ownNS {
		if err := isolateRootfsBind(cfg); err != nil {
			return err
		}
	}
	root, err := os.OpenFile(cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer root.Close()
	userns := cfg.Has("user")
	for _, m := range cfg.Mounts {
		if err := mountInRoot(root, m, userns, fp); err != nil {
			return err
		}
	}
	if err := createDevices(root, cfg.Devices, userns); err != nil {
		return err
	}
	return devSymlinks(root, hasDevpts(cfg))
}

// initialPropagation is what "/" becomes before anything is mounted: the
// config's rootfsPropagation, except that a shared or unbindable root waits
// until after pivot_root (pivot_root refuses shared mounts, and the rootfs
// cannot be bound onto itself from an unbindable mount); the default is rslave.
func initialPropagation(p int) uintptr {
	if p == 0 || p&(unix.MS_SHARED|unix.MS_UNBINDABLE) != 0 {
		return unix.MS_SLAVE | unix.MS_REC
	}
	return uintptr(p)
}

// finalPropagation is what "/" still needs after pivot_root: a shared or
// unbindable rootfsPropagation, which initialPropagation left for later.
func finalPropagation(p int) (uintptr, bool) {
	return uintptr(p), p&(unix.MS_SHARED|unix.MS_UNBINDABLE) != 0
}

func hasDevpts(cfg *configs.Config) bool {
	for _, m := range cfg.Mounts {
		if m.Type == "devpts" && cleanPath(m.Destination) == "/dev/pts" {
			return true
		}
	}
	return false
}

// isolateRootfsBind gives the rootfs bind, in the runtime's own mount
// namespace, a propagation of its own: private (or rootfsPropagation), so
// the container's mounts reach no other mount.
func isolateRootfsBind(cfg *configs.Config) error {
	if err := unix.Mount("", cfg.Rootfs, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make the rootfs bind private: %w", err)
	}
	if cfg.Propagation != 0 {
		if err := unix.Mount("", cfg.Rootfs, "", uintptr(cfg.Propagation), ""); err != nil {
			return fmt.Errorf("set rootfsPropagation on the rootfs: %w", err)
		}
	}
	return nil
}

// enterRootfs makes the rootfs the container's "/": pivot_root, or with
// --no-pivot a move mount and chroot. In the runtime's mount namespace only
// chroot is possible: pivot_root or a move onto "/" would change the host's root.
func enterRootfs(cfg *configs.Config, noPivot bool) error {
	if !cfg.Has("mount") {
		return chrootRootfs(cfg.Rootfs)
	}
	var err error
	if noPivot {
		err = moveRoot(cfg.Rootfs)
	} else {
		err = pivotRoot(cfg.Rootfs)
	}
	if err != nil {
		return err
	}
	if flags, ok := finalPropagation(cfg.Propagation); ok {
		if err := unix.Mount("", "/", "", flags, ""); err != nil {
			return fmt.Errorf("set rootfsPropagation on /: %w", err)
		}
	}
	return nil
}

// pivotRoot swaps the root without a temporary directory: pivot_root(".", ".")
// stacks the old root on the new one, which we then detach.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return fmt.Errorf("chdir to old root: %w", err)
	}
	// Slave first, so detaching the old root cannot unmount anything on the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// chrootRootfs enters the rootfs without changing any mount.
func chrootRootfs(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs %s: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot to rootfs %s: %w", rootfs, err)
	}
	return unix.Chdir("/")
}

// moveRoot is --no-pivot: move the rootfs onto / and chroot into it.
func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs %s: %w", rootfs, err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs %s to /: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// finalizeRootfs applies, after pivot, what the process must not undo:
// read-only paths, masked paths, and a read-only root.
func finalizeRootfs(cfg *configs.Config) error {
	for _, p := range cfg.RoPaths {
		if err := readonlyPath(p); err != nil {
			return err
		}
	}
	if len(cfg.MaskPaths) > 0 {
		devNull, err := openDevNull()
		if err != nil {
			return fmt.Errorf("masked paths: %w", err)
		}
		defer devNull.Close()
		for _, p := range cfg.MaskPaths {
			if err := maskPath(devNull, p); err != nil {
				return err
			}
		}
	}
	if cfg.Readonlyfs {
		if err := remountReadonly("/"); err != nil {
			return fmt.Errorf("make root read-only: %w", err)
		}
	}
	unix.Umask(0o022)
	if u := cfg.Process.Umask; u != nil {
		unix.Umask(int(*u))
	}
	return nil
}

// readonlyPath makes a path read-only (recursively); a missing path is skipped.
func readonlyPath(p string) error {
	target, err := openInContainer(p, false)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	defer target.Close()
	if err := readonlyBindFd(target); err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	return nil
}

// remountReadonly remounts a bind read-only, keeping the flags a user
// namespace may not clear (nosuid, nodev, noexec and atime flags).
func remountReadonly(p string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return err
	}
	flags := unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | lockedFlags(st.Flags)
	return unix.Mount("", p, "", uintptr(flags), "")
}

// lockedFlags turns statfs(2) ST_* flags into the MS_* flags a remount must keep.
func lockedFlags(f int64) int {
	table := []struct{ st, ms int }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_RDONLY, unix.MS_RDONLY},
	}
	var ms int
	for _, t := range table {
		if f&int64(t.st) != 0 {
			ms |= t.ms
		}
	}
	return ms
}

// maskPath hides a path: the checked /dev/null over a file, an empty
// read-only tmpfs over a directory. A missing path is skipped.
func maskPath(devNull *os.File, p string) error {
	target, err := openInContainer(p, false)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	defer target.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(target.Fd()), &st); err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = readonlyTmpfsFd(target)
	} else {
		err = bindFd(devNull, target, false)
	}
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	return nil
}

// openInRoot resolves a container path inside the rootfs without following
// any symlink out of it, returning an O_PATH handle.
func openInRoot(root *os.File, p string) (*os.File, error) {
	return pathrs.OpenatInRoot(root, p)
}

// mkdirInRoot creates a directory (and its parents) inside the rootfs,
// symlink-safe, and returns it opened. A directory that is already there
// (most targets: /proc, /dev, /sys) is opened with one openat2 resolved as
// pathrs-lite resolves it (inside the root, no magic links), without its
// partial walk, /proc/self/fd readlink and reopen through procfs; one whose
// parent is there is made by mkdirLast; anything else (a missing parent, not
// a directory, an error) takes pathrs-lite's way.
func mkdirInRoot(root *os.File, p string, mode os.FileMode) (*os.File, error) {
	fd, err := unix.Openat2(int(root.Fd()), p, inRootDir)
	if err == nil {
		return os.NewFile(uintptr(fd), p), nil
	}
	if errors.Is(err, unix.ENOENT) {
		if f := mkdirLast(root, p, mode); f != nil {
			return f, nil
		}
	}
	return pathrs.MkdirAllHandle(root, p, mode)
}

// inRootDir opens a directory as pathrs-lite resolves a path in the rootfs.
var inRootDir = &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
	Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}

// mkdirLast makes p's last component when its parent is there (a fresh
// tmpfs's /dev/pts, a cgroup hierarchy's directory): the parent resolved as
// in mkdirInRoot, one mkdirat in it (which never follows a symlink), and the
// new directory opened beneath the parent without following any symlink.
// nil sends the rest to pathrs-lite: a path with "..", whose lexical split
// could differ from the walk; a missing parent; a name that is there by now
// or was swapped for a symlink in between; a mode beyond permission bits.
func mkdirLast(root *os.File, p string, mode os.FileMode) *os.File {
	dir, base := filepath.Split(strings.TrimRight(p, "/"))
	if base == "" || base == "." || strings.Contains(p, "..") || mode&^os.ModePerm != 0 {
		return nil
	}
	if dir == "" {
		dir = "."
	}
	parent, err := unix.Openat2(int(root.Fd()), dir, inRootDir)
	if err != nil {
		return nil
	}
	defer unix.Close(parent)
	if unix.Mkdirat(parent, base, uint32(mode.Perm())) != nil {
		return nil
	}
	fd, err := unix.Openat2(parent, base, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV})
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), p)
}

// procFdPath names an open file for syscalls that take a path: the kernel
// follows the magic link to exactly the file we resolved, never a swapped symlink.
func procFdPath(f *os.File) string {
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd())
}
