package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ttyRelay is run's own terminal when the container has one and no
// --console-socket was given: it takes the pty master from the init and
// copies between it and ocirun's stdio, with ocirun's terminal in raw mode.
type ttyRelay struct {
	master  *os.File
	saved   *unix.Termios // our terminal's mode before raw, restored on Close
	outDone chan struct{}
}

func newTTYRelay(sock *os.File) (*ttyRelay, error) {
	master, err := recvFd(sock)
	if err != nil {
		return nil, fmt.Errorf("receive the container's pty: %w", err)
	}
	t := &ttyRelay{master: master, outDone: make(chan struct{})}
	if termios, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS); err == nil {
		t.saved = termios
		raw := *termios
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		unix.IoctlSetTermios(int(os.Stdin.Fd()), unix.TCSETS, &raw)
		t.Resize()
	}
	go io.Copy(master, os.Stdin)
	go func() {
		out := &writeFailure{w: os.Stdout}
		io.Copy(out, master) // ends with EIO once the container's side is closed
		if out.err != nil {
			// Our stdout is gone (a reader that went away): hang the
			// container's terminal up, as a closed terminal would, rather
			// than leave it to fill while we wait.
			master.Close()
		}
		close(t.outDone)
	}()
	return t, nil
}

// writeFailure remembers whether writing to w failed.
type writeFailure struct {
	w   io.Writer
	err error
}

func (f *writeFailure) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		f.err = err
	}
	return n, err
}

// Resize gives the container's terminal our terminal's size.
func (t *ttyRelay) Resize() {
	if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// Drain waits briefly for the last output of the container to be copied.
func (t *ttyRelay) Drain() {
	select {
	case <-t.outDone:
	case <-time.After(time.Second):
	}
}

// Close restores our terminal.
func (t *ttyRelay) Close() {
	if t.saved != nil {
		unix.IoctlSetTermios(int(os.Stdin.Fd()), unix.TCSETS, t.saved)
	}
	t.master.Close()
}

// recvFd receives one fd sent with SCM_RIGHTS.
func recvFd(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no file descriptor in the message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no file descriptor in the message")
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
