// threads.c: Go's sysmon thread sleeps with a coarse timer slack; every other
// thread keeps the slack ocirun was started with.
//
// sysmon, the runtime's monitor, sleeps 20 µs at a time for the first
// millisecond of a process, and again whenever it hands a processor on:
// most of an ocirun command's life. Each wake-up is two context switches,
// and with a hundred creates at once on two cores they were 26,000 of
// 45,000 switches (docs/PERFORMANCE.md, seventh round). A thread's timer
// slack lets the kernel fire its timed sleeps up to that much late, together
// with another timer: sysmon then wakes about once per slack instead. Only
// sysmon's timing changes (how soon it takes a processor back from a thread
// blocked in a system call); a signal still wakes it at once, so exit and
// execve do not wait for it.
//
// A thread inherits its creator's slack, and so does a process it forks,
// across execve too. runtime.main starts sysmon before any other thread
// (runtime/proc.go), so the first thread created is sysmon: it is created
// with the coarse slack, and every later one with the slack the process
// started with, whichever thread creates it (sysmon starts threads too).
// The main thread never changes its own for longer than one pthread_create,
// and nothing is forked from sysmon, so no child sees the coarse slack.
//
// Every link of this package passes -Wl,--wrap=pthread_create (nsenter.go's
// cgo LDFLAGS), which sends cgo's thread creation here.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

// Sysmon's slack: its longest sleep, which it takes on its own once a
// process idles. It then takes a processor back from a thread blocked in a
// system call within ~10 ms instead of 20 us (a hundred creates at once:
// 0.93 of their wall time with 4 ms; sequential commands unchanged, also
// with GOMAXPROCS=1).
#define OCIRUN_SYSMON_TIMER_SLACK_NS 10000000L

// cgo mallocs each new thread's start record (three pointers) and the new
// thread frees it. musl's allocator maps a page for the first record of that
// size and unmaps it when the record is freed, for every thread; an unmap in
// a process whose threads have run on other CPUs flushes their TLBs through
// interprocessor interrupts, each a VM exit in a VM (3 % of a `state` here,
// docs/PERFORMANCE.md, twelfth round). One record of that size kept for the
// process's life keeps the page, and the records after it reuse its slots.
#define OCIRUN_THREAD_START_SIZE (3 * sizeof(void *))
static void *ocirun_thread_start_keep;

extern int __real_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static atomic_int ocirun_threads_created;
// The slack of the process's start, read by the first call; 0 when there is
// none to restore (prctl refused, or 0: PR_SET_TIMERSLACK 0 means "default").
static atomic_long ocirun_start_slack;

// The raw system call: the C library's prctl returns an int, which would
// truncate a slack of 2^31 ns or more (and hand that to every thread).
static long timer_slack(void) { return syscall(SYS_prctl, PR_GET_TIMERSLACK, 0, 0, 0, 0); }
static void set_timer_slack(long ns) { syscall(SYS_prctl, PR_SET_TIMERSLACK, ns, 0, 0, 0); }

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	long want, cur = timer_slack();
	int first = atomic_fetch_add(&ocirun_threads_created, 1) == 0;
	if (first) {
		// Single-threaded still: this creates sysmon.
		atomic_store(&ocirun_start_slack, cur > 0 ? cur : 0);
		if (!ocirun_thread_start_keep)
			ocirun_thread_start_keep = malloc(OCIRUN_THREAD_START_SIZE);
		want = cur > 0 ? OCIRUN_SYSMON_TIMER_SLACK_NS : cur;
	} else {
		want = atomic_load(&ocirun_start_slack);
	}
	int rc;
	if (want <= 0 || cur <= 0 || want == cur) {
		rc = __real_pthread_create(t, attr, fn, arg);
	} else {
		// The new thread takes the creator's slack at clone: lend it ours.
		set_timer_slack(want);
		rc = __real_pthread_create(t, attr, fn, arg);
		set_timer_slack(cur);
	}
	if (rc != 0 && first)
		atomic_store(&ocirun_threads_created, 0); // cgo retries on EAGAIN: that one is sysmon's
	return rc;
}
