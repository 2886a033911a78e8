// Package nsenter holds the C constructor that runs in `ocirun init` before
// the Go runtime starts. Go cannot setns(2) into user or mount namespaces once
// it has threads, and cannot fork, so this small piece of C does the
// namespace work and then lets Go start inside the container's namespaces.
//
// Importing the package (for its side effect) links the constructor in; it
// does nothing unless the environment names a bootstrap socket.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
extern void ocirun_nsexec(void);
void __attribute__((constructor)) ocirun_nsenter_init(void) { ocirun_nsexec(); }
*/
import "C"
