package main

/*
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int relay_fd = -1;

// relay_handler writes the signal's number to the relay pipe: write is
// async-signal-safe, and the pipe does not block (a full pipe drops it).
static void relay_handler(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(relay_fd, &b, 1) < 0) {
	}
	errno = saved;
}

// ocirun_relay_to points each of the n signals at relay_handler, which
// writes to fd. SA_ONSTACK: the handler may run on any of Go's threads,
// on the signal stack Go gives each; SA_RESTART, as Go's own handlers.
static int ocirun_relay_to(int fd, const int *sigs, int n)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = relay_handler;
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	relay_fd = fd;
	for (int i = 0; i < n; i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return errno;
	return 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Signals run and exec relay to the container's process: every one that
// can be caught. Go's os/signal would take them all with one round trip to
// the runtime's signal-mask thread per signal (1.2-1.7 ms for the 61 here,
// as much as the rest of an exec). Those the Go runtime needs no handler
// for get a C one instead, installed in microseconds, that writes the
// signal's number to a pipe a goroutine reads; the runtime keeps its own
// handlers for its preemption (SIGURG), its profiler (SIGPROF), the faults
// it turns into panics (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS),
// SIGPIPE (a write of ours to a closed stdout or stderr raises it, and the
// runtime kills us unless os/signal takes it) and the C library's signals
// (32-34); SIGCHLD is no concern of the relay's (a waiting goroutine
// reaps). Those Go keeps are relayed through os/signal when sent to us:
// seven round trips.

// runtimeSignals keep Go's handlers.
var runtimeSignals = map[unix.Signal]bool{
	unix.SIGURG: true, unix.SIGPROF: true, unix.SIGSEGV: true, unix.SIGBUS: true, unix.SIGFPE: true,
	unix.SIGILL: true, unix.SIGTRAP: true, unix.SIGSYS: true, unix.SIGPIPE: true, unix.SIGCHLD: true,
	unix.SIGKILL: true, unix.SIGSTOP: true, 32: true, 33: true, 34: true,
}

// goRelayed are relayed through os/signal.
var goRelayed = []os.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS, unix.SIGPIPE}

// relayAllSignals starts catching every signal into sigc and returns a
// function that waits until all are caught: the caller waits before the
// container's process exists, so no signal meant for it is lost or kills
// us. The signals stay caught until the command exits; those that arrive
// once nobody reads sigc (it holds 128) are dropped.
func relayAllSignals(sigc chan os.Signal) (wait func(), err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("signal relay: %w", err)
	}
	if err := unix.SetNonblock(p[1], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, fmt.Errorf("signal relay: %w", err)
	}
	var sigs []C.int
	var mask unix.Sigset_t
	for s := unix.Signal(1); s <= 64; s++ {
		if !runtimeSignals[s] {
			sigs = append(sigs, C.int(s))
			bits := uint(unsafe.Sizeof(mask.Val[0]) * 8) // 64 or 32 by architecture
			mask.Val[uint(s-1)/bits] |= 1 << (uint(s-1) % bits)
		}
	}
	if e := C.ocirun_relay_to(C.int(p[1]), &sigs[0], C.int(len(sigs))); e != 0 {
		// Those installed write to the pipe, which stays: nothing reads it.
		return nil, fmt.Errorf("signal relay: sigaction: %w", unix.Errno(e))
	}
	go readRelay(p[0], &mask, sigc)
	done := make(chan struct{})
	go func() {
		signal.Notify(sigc, goRelayed...)
		close(done)
	}()
	return func() { <-done }, nil
}

// readRelay passes the relay pipe's signals on to sigc, dropping those
// that find it full, as os/signal does. Its thread takes the signals: Go's
// threads keep blocked those our caller started us with blocked, and
// os/signal unblocked them on a thread of its own.
func readRelay(fd int, mask *unix.Sigset_t, sigc chan os.Signal) {
	runtime.LockOSThread() // for good: the thread's mask is the relay's
	unix.PthreadSigmask(unix.SIG_UNBLOCK, mask, nil)
	buf := make([]byte, 64)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		for _, b := range buf[:n] {
			select {
			case sigc <- unix.Signal(b):
			default:
			}
		}
	}
}
