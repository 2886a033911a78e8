package tests

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startWithSlack starts cmd from a thread whose timer slack is slack: the
// child inherits it, as ocirun inherits whatever slack its caller has.
func startWithSlack(cmd *exec.Cmd, slack int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0); err != nil {
		return err
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
	return cmd.Start()
}

func timerSlack(t *testing.T, tid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", tid))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Go's sysmon thread, and only it, sleeps with a coarse timer slack
// (libcontainer/nsenter/threads.c, OCIRUN_SYSMON_TIMER_SLACK_NS): the first
// thread after the main one. Every other thread of an ocirun process, the
// container's process and a process exec'd into it keep the slack ocirun was
// started with. Ten at once, so that sysmon hands processors on and starts
// threads of its own.
func TestSysmonTimerSlack(t *testing.T) {
	const started, sysmon = 3000000000, 10000000 // started: above 2^31, which an int would truncate
	r := newRT(t)
	b := bundle(t, []string{"sleep", "10"}, nil)
	const n = 10
	pids := map[string]int{}
	for i := range n {
		id := fmt.Sprintf("slack%d", i)
		cmd := r.cmd("run", "--bundle", b, id)
		cmd.Stdout, cmd.Stderr = tempFile(t), tempFile(t)
		if err := startWithSlack(cmd, started); err != nil {
			t.Fatal(err)
		}
		pids[id] = cmd.Process.Pid
		defer func() {
			r.run("delete", "--force", id)
			cmd.Wait()
		}()
	}
	for id, pid := range pids {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if st := r.run("state", id); st.code == 0 && strings.Contains(st.stdout, `"running"`) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			t.Fatal(err)
		}
		first, wrapped := 0, false
		slacks := map[int]int{}
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			wrapped = wrapped || tid < pid
			if tid > pid && (first == 0 || tid < first) {
				first = tid
			}
			slacks[tid] = timerSlack(t, tid)
		}
		var coarse []int
		for tid, s := range slacks {
			switch s {
			case sysmon:
				coarse = append(coarse, tid)
			case started:
			default:
				t.Errorf("%s: thread %d has timer slack %d, want %d (or %d for sysmon)", id, tid, s, started, sysmon)
			}
		}
		if len(coarse) != 1 || (!wrapped && coarse[0] != first) {
			t.Errorf("%s: threads with sysmon's slack: %v of %d; want only the first after the main thread %d: %d",
				id, coarse, len(tasks), pid, first)
		}
		if p, _ := r.state(id)["pid"].(float64); p > 0 {
			if s := timerSlack(t, int(p)); s != started {
				t.Errorf("%s: the container's process has timer slack %d, want %d", id, s, started)
			}
		}
	}
	// A process exec'd into a container, from an ocirun started the same way.
	exec := r.cmd("exec", "slack0", "cat", "/proc/self/timerslack_ns")
	out := tempFile(t)
	exec.Stdout, exec.Stderr = out, tempFile(t)
	if err := startWithSlack(exec, started); err != nil {
		t.Fatal(err)
	}
	if err := exec.Wait(); err != nil {
		t.Fatalf("exec: %v", err)
	}
	if got, _ := os.ReadFile(out.Name()); strings.TrimSpace(string(got)) != strconv.Itoa(started) {
		t.Errorf("exec'd process: timer slack %q, want %d", got, started)
	}
}
