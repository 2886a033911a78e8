package tests

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestConsoleSocket plays containerd's part: listen on a socket, receive
// the pty master from create, and read what the container writes to it.
func TestConsoleSocket(t *testing.T) {
	r := newRT(t)
	sockPath := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- nil
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) != 1 {
			got <- nil
			return
		}
		fds, _ := unix.ParseUnixRights(&msgs[0])
		got <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	b := bundle(t, []string{"sh", "-c", "tty; test -t 0 && test -t 1 && echo is-a-tty; stty size"}, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101}
	})
	r.ok("create", "--console-socket", sockPath, "--bundle", b, "tty")
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no pty master arrived on the console socket")
	}
	if master == nil {
		t.Fatal("the console socket received no fd")
	}
	defer master.Close()
	r.ok("start", "tty")
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out []byte
	buf := make([]byte, 1024)
	for !strings.Contains(string(out), "33 101") {
		n, err := master.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			t.Logf("read: %v", err)
			break
		}
	}
	s := string(out)
	if !strings.Contains(s, "/dev/pts/0") || !strings.Contains(s, "is-a-tty") || !strings.Contains(s, "33 101") {
		t.Fatalf("pty output %q", s)
	}
	r.waitStatus("tty", "stopped")
	r.ok("delete", "tty")
}

func TestTerminalNeedsConsoleSocketWhenDetached(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Process.Terminal = true })
	res := r.run("create", "--bundle", b, "notty")
	if res.code == 0 || !strings.Contains(res.stderr, "console socket") {
		t.Fatalf("exit %d, %q", res.code, res.stderr)
	}
	r.assertEmptyRoot()
}
