package libcontainer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// containerProcessState is what a seccomp listener receives (runtime-spec
// "Seccomp User Notification"), with the notify fd as SCM_RIGHTS.
type containerProcessState struct {
	OCIVersion string   `json:"ociVersion"`
	Fds        []string `json:"fds"`
	Pid        int      `json:"pid"`
	Metadata   string   `json:"metadata,omitempty"`
	State      OCIState `json:"state"`
}

// sendToListener connects to linux.seccomp.listenerPath and hands over the fd.
func sendToListener(c *configs.Seccomp, fd int, state OCIState, pid int) error {
	if c == nil || c.ListenerPath == "" {
		return fmt.Errorf("seccomp notify fd received without a listenerPath")
	}
	msg, err := json.Marshal(containerProcessState{OCIVersion: state.OCIVersion, Fds: []string{"seccompFd"},
		Pid: pid, Metadata: c.ListenerMetadata, State: state})
	if err != nil {
		return err
	}
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("seccomp listener socket: %w", err)
	}
	defer unix.Close(sock)
	if err := unix.Connect(sock, &unix.SockaddrUnix{Name: c.ListenerPath}); err != nil {
		return fmt.Errorf("connect to seccomp listener %s: %w", c.ListenerPath, err)
	}
	if err := unix.Sendmsg(sock, msg, unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("send to seccomp listener %s: %w", c.ListenerPath, err)
	}
	return nil
}

// writeMsgFd sends a framed message with one fd attached to its header.
func writeMsgFd(sock *os.File, t uint32, payload []byte, fd int) error {
	msg := make([]byte, 8, 8+len(payload))
	binary.LittleEndian.PutUint32(msg, t)
	binary.LittleEndian.PutUint32(msg[4:], uint32(len(payload)))
	msg = append(msg, payload...)
	n, err := unix.SendmsgN(int(sock.Fd()), msg, unix.UnixRights(fd), nil, 0)
	if err == nil && n < len(msg) {
		_, err = sock.Write(msg[n:])
	}
	return err
}

// readMsgFd reads one framed message with recvmsg, so an fd sent with its
// header arrives (read(2) would drop it). fd is -1 when none came.
func readMsgFd(sock *os.File) (uint32, []byte, int, error) {
	var hdr [8]byte
	oob := make([]byte, unix.CmsgSpace(4))
	got, fd := 0, -1
	for got < len(hdr) {
		n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), hdr[got:], oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, nil, -1, err
		}
		if n == 0 {
			if got == 0 {
				return 0, nil, -1, io.EOF
			}
			return 0, nil, -1, io.ErrUnexpectedEOF
		}
		if oobn > 0 {
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) > 0 {
				if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) > 0 {
					fd = fds[0]
				}
			}
		}
		got += n
	}
	t, size := binary.LittleEndian.Uint32(hdr[:]), binary.LittleEndian.Uint32(hdr[4:])
	if size > 64<<20 {
		return 0, nil, fd, fmt.Errorf("message of %d bytes is too large", size)
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(sock, payload); err != nil {
		return 0, nil, fd, err
	}
	return t, payload, fd, nil
}
