package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// createDevices makes the device nodes of linux.devices and the defaults.
// In a user namespace mknod is not allowed: the host's node is bind-mounted.
// Devices in the same directory as the one before (all of the defaults:
// /dev) reuse its handle, resolved once.
func createDevices(root *os.File, devices []*configs.Device, userns bool) error {
	var dir *os.File
	dirPath := ""
	defer func() {
		if dir != nil {
			dir.Close()
		}
	}()
	for _, d := range devices {
		dest := cleanPath(d.Path)
		if parent := filepath.Dir(dest); dir == nil || parent != dirPath {
			if dir != nil {
				dir.Close()
			}
			var err error
			if dir, err = mkdirInRoot(root, parent, 0o755); err != nil {
				return fmt.Errorf("device %s: %w", dest, err)
			}
			dirPath = parent
		}
		var err error
		if userns {
			err = bindDevice(dir, d, dest)
		} else {
			err = mknodDevice(dir, d, dest)
		}
		if err != nil {
			return fmt.Errorf("device %s: %w", dest, err)
		}
	}
	return nil
}

func deviceType(t rune) (uint32, error) {
	switch t {
	case 'c', 'u':
		return unix.S_IFCHR, nil
	case 'b':
		return unix.S_IFBLK, nil
	case 'p':
		return unix.S_IFIFO, nil
	}
	return 0, fmt.Errorf("unknown device type %q", t)
}

// mknodDevice creates the node in its parent directory's fd; an existing node is left alone.
func mknodDevice(dir *os.File, d *configs.Device, dest string) error {
	typ, err := deviceType(d.Type)
	if err != nil {
		return err
	}
	name := filepath.Base(dest)
	mode := typ | uint32(d.FileMode.Perm())
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	err = unix.Mknodat(int(dir.Fd()), name, mode, int(dev))
	if errors.Is(err, unix.EEXIST) {
		// Keep a node that is already right; anything else (a symlink, a
		// file, a different device) planted in the rootfs is replaced.
		var st unix.Stat_t
		if unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil &&
			st.Mode&unix.S_IFMT == typ && st.Rdev == dev {
			return nil
		}
		if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil {
			return fmt.Errorf("replace what is at the device's path: %w", err)
		}
		err = unix.Mknodat(int(dir.Fd()), name, mode, int(dev))
	}
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	if err := unix.Fchownat(int(dir.Fd()), name, int(d.UID), int(d.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

// bindDevice binds the host's node onto an empty file in the container.
func bindDevice(dir *os.File, d *configs.Device, dest string) error {
	name := filepath.Base(dest)
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o644)
	if errors.Is(err, unix.ELOOP) {
		// A symlink planted at the device's path: remove it, never follow it.
		if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil {
			return fmt.Errorf("replace a symlink at the device's path: %w", err)
		}
		fd, err = unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	}
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), dest)
	defer f.Close()
	src := d.Path
	if err := unix.Mount(src, procFdPath(f), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind host %s: %w", src, err)
	}
	return nil
}

// devSymlinks adds the links every container expects in /dev.
func devSymlinks(root *os.File, devpts bool) error {
	dev, err := mkdirInRoot(root, "/dev", 0o755)
	if err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	defer dev.Close()
	links := [][2]string{
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	if devpts {
		// The container's ptmx must be its own devpts instance's.
		unix.Unlinkat(int(dev.Fd()), "ptmx", 0)
		links = append(links, [2]string{"pts/ptmx", "ptmx"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], int(dev.Fd()), l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}
