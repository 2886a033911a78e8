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
	sockPath, got := consoleSocket(t)
	b := bundle(t, []string{"sh", "-c", "tty; test -t 0 && test -t 1 && echo is-a-tty; stty size"}, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101}
	})
	r.ok("create", "--console-socket", sockPath, "--bundle", b, "tty")
	master := receiveMaster(t, got)
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

// A console socket nobody listens on fails create with the flag and the
// path named, and leaves nothing behind.
func TestConsoleSocketRefused(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Process.Terminal = true })
	missing := filepath.Join(t.TempDir(), "nobody.sock")
	res := r.run("create", "--console-socket", missing, "--bundle", b, "refused")
	if res.code == 0 || !strings.Contains(res.stderr, "--console-socket "+missing+": connect: no such file or directory") {
		t.Fatalf("exit %d, %q", res.code, res.stderr)
	}
	r.assertEmptyRoot()
}

// consoleSocket listens on a new console socket and hands each pty master
// that arrives on it (as containerd would receive it) to the channel.
func consoleSocket(t *testing.T) (string, chan *os.File) {
	t.Helper()
	sockPath := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan *os.File, 1)
	go func() {
		for {
			conn, err := l.AcceptUnix()
			if err != nil {
				return
			}
			buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
			_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			conn.Close()
			var master *os.File
			if msgs, _ := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
				if fds, _ := unix.ParseUnixRights(&msgs[0]); len(fds) == 1 {
					master = os.NewFile(uintptr(fds[0]), "pty-master")
				}
			}
			got <- master
		}
	}()
	return sockPath, got
}

// receiveMaster waits for the pty master from a console socket.
func receiveMaster(t *testing.T, got chan *os.File) *os.File {
	t.Helper()
	select {
	case master := <-got:
		if master == nil {
			t.Fatal("the console socket received no fd")
		}
		t.Cleanup(func() { master.Close() })
		return master
	case <-time.After(10 * time.Second):
		t.Fatal("no pty master arrived on the console socket")
	}
	return nil
}
