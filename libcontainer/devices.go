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
func createDevices(root *os.File, devices []*configs.Device, userns bool) error {
	for _, d := range devices {
		dest := cleanPath(d.Path)
		dir, err := mkdirInRoot(root, filepath.Dir(dest), 0o755)
		if err != nil {
			return fmt.Errorf("device %s: %w", dest, err)
		}
		if userns {
			err = bindDevice(dir, d, dest)
		} else {
			err = mknodDevice(dir, d, dest)
		}
		dir.Close()
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
	if err := unix.Mknodat(int(dir.Fd()), name, mode, int(dev)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return fmt.Errorf("mknod: %w", err)
	}
	if err := unix.Fchownat(int(dir.Fd()), name, int(d.UID), int(d.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

// bindDevice binds the host's node onto an empty file in the container.
func bindDevice(dir *os.File, d *configs.Device, dest string) error {
	fd, err := unix.Openat(int(dir.Fd()), filepath.Base(dest), unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
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
