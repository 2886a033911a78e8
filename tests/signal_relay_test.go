package tests

import (
	"bufio"
	"fmt"
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
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 32)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			expect := func(want string) {
				t.Helper()
				select {
				case got := <-lines:
					if got != want {
						t.Fatalf("got %q, want %q", got, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("no %q within 5 s", want)
				}
			}
			expect("ready")
			for _, s := range sigs {
				cmd.Process.Signal(s.sig)
				expect("got-" + s.name)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 42 {
				t.Errorf("exit %d, want 42 from the trapped SIGTERM", code)
			}
			r.run("delete", "--force", "relay")
		})
	}
}
