package seccomp

// libc_compat.c is built with the package (see its comment): cgo compiles
// the package's C files only when one of its Go files imports "C".

import "C"
