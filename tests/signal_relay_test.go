package tests

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRelaysEverySignal: a foreground run or exec relays what it is sent to
// the container's process: signals with C handlers (HUP, USR1, PIPE, TSTP,
// QUIT, real-time ones) and the fault signals Go keeps its handlers for,
// sent by a process (SEGV), which go through os/signal.
func TestRelaysEverySignal(t *testing.T) {
	sigs := []struct {
		name string
		sig  syscall.Signal
	}{
		{"HUP", syscall.SIGHUP}, {"USR1", syscall.SIGUSR1}, {"PIPE", syscall.SIGPIPE}, {"TSTP", syscall.SIGTSTP},
		{"QUIT", syscall.SIGQUIT}, {"37", syscall.Signal(37)}, {"64", syscall.Signal(64)}, {"SEGV", syscall.SIGSEGV},
		{"INT", syscall.SIGINT},
	}
	var traps []string
	for _, s := range sigs {
		traps = append(traps, fmt.Sprintf("trap 'echo got-%s' %s", s.name, s.name))
	}
	script := strings.Join(traps, "; ") + "; trap 'exit 42' TERM; echo ready; while true; do sleep 0.02; done"
	for _, how := range []string{"run", "exec"} {
		t.Run(how, func(t *testing.T) {
			r := newRT(t)
			var cmd *exec.Cmd
			if how == "run" {
				cmd = r.cmd("run", "--bundle", bundle(t, []string{"sh", "-c", script}, nil), "relay")
			} else {
				r.running("relay", nil)
				cmd = r.cmd("exec", "relay", "sh", "-c", script)
			}
			next := lineReader(t, cmd, startReady(t, cmd))
			expect := func(want string) {
				t.Helper()
				if got := next(); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
			for _, s := range sigs {
				cmd.Process.Signal(s.sig)
				expect("got-" + s.name)
			}
			endWithTrappedTERM(t, cmd)
			r.run("delete", "--force", "relay")
		})
	}
}

// ocirun started with signals blocked (a supervisor's mask, inherited)
// still relays them, and the container's process starts with none
// blocked, whichever way it is set up.
func TestRelayWithSignalsBlocked(t *testing.T) {
	perl, err := exec.LookPath("perl")
	if err != nil {
		t.Skip("skip: no perl to start ocirun with a signal mask")
	}
	block := `use POSIX; sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGUSR1, SIGTERM, SIGHUP, SIGINT)) or die; exec @ARGV or die`
	script := "trap 'echo got-USR1' USR1; trap 'exit 42' TERM; echo ready; grep SigBlk /proc/self/status; while true; do sleep 0.02; done"
	for _, how := range []string{"run", "exec"} {
		for _, init := range []string{"parent", "go"} {
			t.Run(how+"/"+init, func(t *testing.T) {
				r := newRT(t)
				var cmd *exec.Cmd
				if how == "run" {
					r.init = init
					cmd = r.cmd("run", "--bundle", bundle(t, []string{"sh", "-c", script}, nil), "blocked")
				} else {
					r.running("blocked", nil)
					r.init = init
					cmd = r.cmd("exec", "blocked", "sh", "-c", script)
				}
				cmd.Args = append([]string{"perl", "-MPOSIX", "-e", block, cmd.Path}, cmd.Args[1:]...)
				cmd.Path = perl
				next := lineReader(t, cmd, startReady(t, cmd))
				if l := next(); l != "SigBlk:\t0000000000000000" {
					t.Errorf("the process starts with %q", l)
				}
				cmd.Process.Signal(syscall.SIGUSR1)
				if l := next(); l != "got-USR1" {
					t.Errorf("USR1: got %q", l)
				}
				endWithTrappedTERM(t, cmd)
				r.init = ""
				r.run("delete", "--force", "blocked")
			})
		}
	}
}

// A write of ocirun's own to a closed stderr (its error, here) must not
// kill it with SIGPIPE: the relay leaves SIGPIPE to os/signal.
func TestNoSIGPIPEDeathOnClosedStderr(t *testing.T) {
	r := newRT(t)
	r.running("pipe", nil)
	for _, args := range [][]string{{"exec", "pipe", "nosuch"}, {"run", "--bundle", bundle(t, []string{"nosuch"}, nil), "pipe2"}} {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		pr.Close()
		cmd := r.cmd(args...)
		cmd.Stderr = pw
		cmd.Run()
		pw.Close()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() || ws.ExitStatus() == 0 {
			t.Errorf("%s: %v, want a failure exit, not death by a signal", args[0], cmd.ProcessState)
		}
	}
	r.run("delete", "--force", "pipe2")
	r.ok("delete", "--force", "pipe")
}

// endWithTrappedTERM sends SIGTERM to a foreground run or exec whose
// container shell traps it with `exit 42`, and checks that status came back.
func endWithTrappedTERM(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 42 {
		t.Errorf("exit %d, want 42 from the trapped SIGTERM", code)
	}
}

// lineReader returns the next line of out each time it is called, failing
// the test (and killing cmd) when none comes within 5 s.
func lineReader(t *testing.T, cmd *exec.Cmd, out io.Reader) func() string {
	lines := make(chan string, 32)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Process.Kill()
				t.Fatal("output ended")
			}
			return l
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			t.Fatal("no output within 5 s")
		}
		return ""
	}
}
