package libcontainer

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The created init waits on a listening unix socket in the state directory.
// `start` connects and sends one byte; the init runs the startContainer hooks
// and execs the user's process. The connection is close-on-exec, so `start`
// reads EOF when the exec succeeded, or the init's error text when it failed.
// A socket needs no /proc inside the container, unlike runc's FIFO.

// execSockAddr names the socket through the locked directory's fd, so a long
// --root cannot exceed the 108 bytes of sun_path.
func execSockAddr(dirFile *os.File, dir string) *unix.SockaddrUnix {
	path := filepath.Join(dir, execSockFile)
	if len(path) >= 100 {
		path = fmt.Sprintf("/proc/self/fd/%d/%s", dirFile.Fd(), execSockFile)
	}
	return &unix.SockaddrUnix{Name: path}
}

// listenExecSocket creates the socket file; it exists exactly while the container is "created".
func listenExecSocket(dirFile *os.File, dir string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec socket: %w", err)
	}
	if err := unix.Bind(fd, execSockAddr(dirFile, dir)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind exec socket in %s: %w", dir, err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on exec socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "exec-listener"), nil
}

// dialExecSocket connects to a created container's init.
func dialExecSocket(dirFile *os.File, dir string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec socket: %w", err)
	}
	if err := unix.Connect(fd, execSockAddr(dirFile, dir)); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "exec-conn"), nil
}
