// threads.c: new threads of ocirun's Go runtime start under SCHED_OTHER
// whichever thread creates them. main's sysmon.go puts Go's sysmon thread
// under SCHED_IDLE, and sysmon itself starts threads (handing a processor
// on); a thread inherits its creator's policy (SCHED_RESET_ON_FORK resets
// only real-time policies and negative nice values), and a process forked
// from such a thread would start the container's program under SCHED_IDLE.
//
// Every link of this package passes -Wl,--wrap=pthread_create (nsenter.go's
// cgo LDFLAGS), which sends Go's calls here.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stddef.h>

extern int __real_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	// Only a thread that is not SCHED_OTHER asks for anything: the others
	// create exactly as before, with no system call more.
	if (attr != NULL && sched_getscheduler(0) != SCHED_OTHER) {
		// cgo's attr lives on its own stack, not const: it is set up for this call.
		pthread_attr_t *a = (pthread_attr_t *)attr;
		struct sched_param p = { 0 };
		pthread_attr_setinheritsched(a, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(a, SCHED_OTHER);
		pthread_attr_setschedparam(a, &p);
	}
	return __real_pthread_create(t, attr, fn, arg);
}
