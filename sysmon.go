package main

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Go's sysmon thread wakes every 20 µs for the first millisecond of a
// process and backs off only after that: most of an ocirun command's life.
// Each wake-up is a context switch, about a tenth of a create's CPU when a
// hundred run at once (docs/PERFORMANCE.md). Under SCHED_IDLE it runs only
// on a CPU that would otherwise idle, so it costs nothing while others have
// work; what it does for a command this short (handing a processor on from
// a thread blocked in a system call) then waits until that call returns.
func init() { idleSysmon() }

// idleSysmon makes the runtime's first thread after the main one, sysmon
// (runtime.main starts it before any other), SCHED_IDLE. A thread id below
// ours means the pid numbers wrapped: the order tells nothing, leave it.
func idleSysmon() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	tids := make([]int, 0, len(tasks))
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	if sysmon := sysmonThread(os.Getpid(), tids); sysmon != 0 {
		// Best effort: a seccomp filter or an older kernel may refuse it.
		_ = unix.SchedSetAttr(sysmon, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0)
	}
}

// sysmonThread picks sysmon among the process's threads: the lowest id
// above the process's own; 0 when there is none or the ids wrapped.
func sysmonThread(pid int, tids []int) int {
	sysmon := 0
	for _, tid := range tids {
		if tid < pid {
			return 0
		}
		if tid > pid && (sysmon == 0 || tid < sysmon) {
			sysmon = tid
		}
	}
	return sysmon
}
