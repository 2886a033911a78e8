package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// CVE-2019-5736: a container process that makes the init exec
// /proc/self/exe (directly or as a script's interpreter) runs ocirun's own
// binary inside the container and can then write to it through
// /proc/PID/exe, replacing ocirun on the host. So the init never runs from
// the host's file: it runs from a handle nothing can write through.

// emptyDirName is an empty directory under the state root that the overlay
// needs as a second layer; '#' keeps it out of container ids.
const emptyDirName = "#exe-overlay-empty"

// sealedExe returns a handle on our own binary that cannot be written:
// first choice, the binary seen through a detached read-only overlayfs mount
// (no copy: a few syscalls) whose second, empty layer is a directory in the
// state root; where overlayfs refuses that layer (ELOOP: the root lies
// inside the binary's directory, as it does for a binary in /), the same
// overlay over a detached empty tmpfs (Linux 6.15 on: overlayfs refused
// detached layers before); where overlayfs is not available, a
// memfd copy sealed against every change (a copy of the whole binary at
// every create).
func sealedExe(root string) (*sealedBinary, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("find our binary: %w", err)
	}
	f, err := overlayExe(exe, filepath.Join(root, emptyDirName))
	if errors.Is(err, unix.ELOOP) {
		f, err = overlayExeOnTmpfs(exe)
	}
	if err == nil {
		return f, nil
	}
	m, err := memfdExe()
	if err != nil {
		return nil, err
	}
	return &sealedBinary{File: m, mount: -1}, nil
}

// sealedBinary is the handle on our binary and the detached overlay mount
// it lies in (-1 for a memfd). The mount is closed with the handle, not
// when the handle is opened: closing a detached mount's last fd dissolves
// it, which waits for an RCU grace period (0.3-0.7 ms here), and the
// caller can let that happen off its path (startInit).
type sealedBinary struct {
	*os.File
	mount int
}

func (s *sealedBinary) Close() error {
	if s.mount >= 0 {
		unix.Close(s.mount)
	}
	return s.File.Close()
}

// overlayExe mounts, without attaching it anywhere, a lower-only (so
// read-only) overlay of the binary's directory over the empty directory
// empty, and opens the binary in it.
func overlayExe(exe, empty string) (*sealedBinary, error) {
	if err := os.Mkdir(empty, 0o500); err != nil && !os.IsExist(err) {
		return nil, err
	}
	return overlayOpen(exe, empty)
}

// overlayExeOnTmpfs is overlayExe over a detached empty tmpfs, which cannot
// overlap the binary's directory: it is no directory of any tree.
func overlayExeOnTmpfs(exe string) (*sealedBinary, error) {
	mnt, err := emptyTmpfs()
	if err != nil {
		return nil, err
	}
	defer unix.Close(mnt)
	return overlayOpen(exe, fmt.Sprintf("/proc/self/fd/%d", mnt))
}

// emptyTmpfs mounts a read-only tmpfs nowhere and returns its mount fd.
func emptyTmpfs() (int, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "size", "4k"); err != nil {
		return -1, err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, err
	}
	return unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC)
}

// overlayOpen mounts nowhere an overlay whose layers are the binary's
// directory over empty, and opens the binary in it.
func overlayOpen(exe, empty string) (*sealedBinary, error) {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "lowerdir", escapeLowerdir(filepath.Dir(exe))+":"+escapeLowerdir(empty)); err != nil {
		return nil, err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, err
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Openat(mnt, filepath.Base(exe), unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		unix.Close(mnt)
		return nil, err
	}
	return &sealedBinary{File: os.NewFile(uintptr(fd), "ocirun-sealed"), mount: mnt}, nil
}

// memfdExe copies the binary into a memfd and seals it: no write, no resize, no unsealing.
func memfdExe() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open our binary: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("ocirun", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd for our binary: %w", err)
	}
	f := os.NewFile(uintptr(fd), "ocirun-memfd")
	for off := int64(0); off < st.Size(); {
		n, err := unix.Sendfile(fd, int(src.Fd()), nil, int(st.Size()-off))
		if err != nil || n == 0 {
			f.Close()
			return nil, fmt.Errorf("copy our binary: %w", err)
		}
		off += int64(n)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal our binary: %w", err)
	}
	return f, nil
}

// escapeLowerdir escapes what overlayfs reads as layer separators in a
// path of its lowerdir list (':'), and its escape character. (A loop: a
// strings.Replacer builds a 13 KB table at its first use, in every create.)
func escapeLowerdir(path string) string {
	if !strings.ContainsAny(path, `\:`) {
		return path
	}
	b := make([]byte, 0, len(path)+8)
	for i := 0; i < len(path); i++ {
		if path[i] == '\\' || path[i] == ':' {
			b = append(b, '\\')
		}
		b = append(b, path[i])
	}
	return string(b)
}
