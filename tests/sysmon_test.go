package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// schedPolicy is a task's scheduling policy (the 41st field of stat).
func schedPolicy(t *testing.T, statPath string) string {
	t.Helper()
	stat, err := os.ReadFile(statPath)
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command's ")": the policy is the 39th of them.
	return strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))[38]
}

// An ocirun process runs one thread under SCHED_IDLE: Go's sysmon, the
// first thread after the main one (sysmon.go). Not the main thread, which
// runs the command, nor a thread sysmon started (threads.c), nor the
// container's process. Ten at once, so that sysmon starts threads.
func TestSysmonIsIdleClass(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "10"}, nil)
	const n = 10
	pids := map[string]int{}
	for i := range n {
		id := fmt.Sprintf("idle%d", i)
		cmd := r.cmd("run", "--bundle", b, id)
		cmd.Stdout, cmd.Stderr = tempFile(t), tempFile(t)
		if err := cmd.Start(); err != nil {
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
		lowest := 0
		var idle []int
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			if tid > pid && (lowest == 0 || tid < lowest) {
				lowest = tid
			}
			if schedPolicy(t, "/proc/"+strconv.Itoa(pid)+"/task/"+task.Name()+"/stat") == "5" {
				idle = append(idle, tid)
			}
		}
		if len(idle) != 1 || idle[0] != lowest {
			t.Errorf("%s: threads under SCHED_IDLE: %v of %d; want only the first after the main thread %d: %d",
				id, idle, len(tasks), pid, lowest)
		}
		if p, _ := r.state(id)["pid"].(float64); p > 0 {
			if pol := schedPolicy(t, "/proc/"+strconv.Itoa(int(p))+"/stat"); pol != "0" {
				t.Errorf("%s: the container's process runs under policy %s", id, pol)
			}
		}
	}
}
