// libc_compat.c: what Debian's libseccomp.a needs from a C library other
// than the glibc it was built for. The Makefile links ocirun with musl; the
// archive was compiled with _FORTIFY_SOURCE, so it calls glibc's checked
// fprintf (only when libseccomp prints a filter as text), which musl lacks.
#include <stdarg.h>
#include <stdio.h>

#ifndef __GLIBC__
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}
#endif
