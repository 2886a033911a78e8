package tests

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An ocirun process runs one thread under SCHED_IDLE: Go's sysmon, the
// first thread after the main one (sysmon.go). Not the main thread, which
// runs the command, and no other.
func TestSysmonIsIdleClass(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "10"}, nil)
	cmd := r.cmd("run", "--bundle", b, "idle")
	cmd.Stdout, cmd.Stderr = tempFile(t), tempFile(t)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		r.run("delete", "--force", "idle")
		cmd.Wait()
	}()
	pid := cmd.Process.Pid
	var idle []int
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st := r.run("state", "idle"); st.code == 0 && strings.Contains(st.stdout, `"running"`) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	lowest := 0
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if tid > pid && (lowest == 0 || tid < lowest) {
			lowest = tid
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		// Fields after the command's ")": policy is the 41st field of stat, the 39th after it.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if f[38] == "5" {
			idle = append(idle, tid)
		}
	}
	if len(idle) != 1 || idle[0] != lowest {
		t.Errorf("threads under SCHED_IDLE: %v; want only the first after the main thread %d, %d", idle, pid, lowest)
	}
}
