package main

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// childOf reads the pid and status the kernel puts in siginfo for an
// exited child: real children, one exiting, one killed.
func TestChildOf(t *testing.T) {
	for _, tc := range []struct {
		args []string
		kill bool
		want int
	}{{[]string{"sh", "-c", "exit 3"}, false, 3}, {[]string{"sleep", "60"}, true, 128 + 9}} {
		cmd := exec.Command(tc.args[0], tc.args[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if tc.kill {
			cmd.Process.Kill()
		}
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
			t.Fatal(err)
		}
		c := childOf(&info)
		if c.pid != cmd.Process.Pid || c.shellStatus() != tc.want {
			t.Errorf("%v: pid %d status %d, want pid %d status %d", tc.args, c.pid, c.shellStatus(), cmd.Process.Pid, tc.want)
		}
		cmd.Wait()
	}
}
