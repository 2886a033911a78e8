// Package nsenter holds the C constructor that runs in `ocirun init` before
// the Go runtime starts. Go cannot setns(2) into user or mount namespaces once
// it has threads, and cannot fork, so this small piece of C does the
// namespace work and then lets Go start inside the container's namespaces.
//
// The same constructor is also the created container's waiting init
// (waiter.c): the Go init re-executes the binary for it once set up; the
// whole of a pid 1 whose container the parent builds (pid1.c); and, for
// `exec`, the process itself once in the container, its plan applied in C
// (plan.c).
//
// Importing the package (for its side effect) links the constructor in; it
// does nothing unless the environment names a bootstrap socket or a waiter.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
#cgo LDFLAGS: -Wl,--wrap=pthread_create
#include <sys/resource.h>
extern struct rlimit ocirun_orig_nofile;
extern int ocirun_orig_nofile_set;
extern void ocirun_pid1(int argc, char **argv, char **envp);
extern void ocirun_waiter(int argc, char **argv, char **envp);
extern void ocirun_nsexec(void);
extern int ocirun_static(void);
extern char **environ;
void __attribute__((constructor)) ocirun_nsenter_init(int argc, char **argv, char **envp)
{
#ifndef __GLIBC__
	// musl (the Makefile's build) passes constructors no arguments. The
	// kernel put argc, argv[], NULL, envp[] on the stack, and environ is still
	// that envp: argv ends just before it, and the word before argv[0] is argc
	// (no pointer is that small, so the first match is the count).
	argv = environ - 1;
	for (argc = 0; ((long *)argv)[-1] != argc; argc++)
		argv--;
	envp = environ;
#endif
	ocirun_pid1(argc, argv, envp);   // returns unless this is a pid 1 the parent builds for (pid1.c)
	ocirun_waiter(argc, argv, envp); // returns unless this is a created container's waiting init
	ocirun_nsexec();
}
*/
import "C"

import "golang.org/x/sys/unix"

// OrigNofile is the RLIMIT_NOFILE the init was started with, before Go's
// runtime raised its soft limit; ok is false outside the init.
func OrigNofile() (lim unix.Rlimit, ok bool) {
	if C.ocirun_orig_nofile_set == 0 {
		return lim, false
	}
	return unix.Rlimit{Cur: uint64(C.ocirun_orig_nofile.rlim_cur), Max: uint64(C.ocirun_orig_nofile.rlim_max)}, true
}

// Static reports whether ocirun is a static binary: the waiter re-executes it
// inside the container, where a dynamic one would load the container's ld.so.
func Static() bool {
	return C.ocirun_static() != 0
}
