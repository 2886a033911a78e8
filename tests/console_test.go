package tests

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// openPty opens a pseudo-terminal pair for ocirun's own stdio.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("skip: no /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestRunTTYResize: `run` with a terminal of its own copies its terminal's
// size to the container's when it gets SIGWINCH (relayed through the
// signal relay's pipe), and the container's shell sees the change.
func TestRunTTYResize(t *testing.T) {
	r := newRT(t)
	master, slave := openPty(t)
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}); err != nil {
		t.Fatal(err)
	}
	b := bundle(t, []string{"sh", "-c", "trap 'stty size' WINCH; stty size; echo ready; while :; do sleep 0.02; done"},
		func(s *specs.Spec) { s.Process.Terminal = true })
	cmd := r.cmd("run", "--bundle", b, "resize")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { r.run("kill", "resize", "KILL"); cmd.Wait() }()
	var out []byte
	buf := make([]byte, 1024)
	until := func(want string) {
		t.Helper()
		master.SetReadDeadline(time.Now().Add(10 * time.Second))
		for !strings.Contains(string(out), want) {
			n, err := master.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				t.Fatalf("waiting for %q: %v; output %q", want, err, out)
			}
		}
	}
	until("ready")
	if !strings.Contains(string(out), "30 100") {
		t.Errorf("the container's first size: %q, want 30 100", out)
	}
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 41, Col: 123}); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(unix.SIGWINCH)
	until("41 123")
}

// TestRunTTYReaderGone: `run` with a terminal of its own whose stdout's
// reader goes away (`ocirun run ... | head -n1`) hangs the container's
// terminal up and ends, instead of waiting while the terminal fills
// (SIGPIPE to a container's pid 1 is dropped).
func TestRunTTYReaderGone(t *testing.T) {
	r := newRT(t)
	_, slave := openPty(t)
	b := bundle(t, []string{"yes"}, func(s *specs.Spec) { s.Process.Terminal = true })
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := r.cmd("run", "--bundle", b, "gone")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, pw, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if _, err := pr.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
			t.Errorf("run died of %v", ws.Signal())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("run still waits 10 s after its stdout's reader went away")
	}
	r.run("delete", "--force", "gone")
}
