// probe NAME: makes one syscall with harmless arguments and prints "ok N"
// or "errno N", so tests can see what a seccomp filter did to it. A syscall
// the filter kills never prints.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long ret;
	unsigned cpu;

	if (argc != 2) {
		fprintf(stderr, "usage: probe mkdir|ptrace|getcpu|clone3|NUMBER\n");
		return 2;
	}
	if (strcmp(argv[1], "mkdir") == 0)
		ret = mkdir("/tmp/probe-dir", 0755);
	else if (strcmp(argv[1], "ptrace") == 0)
		ret = syscall(SYS_ptrace, 2 /* PTRACE_PEEKDATA */, 0, 0, 0);
	else if (strcmp(argv[1], "getcpu") == 0)
		ret = syscall(SYS_getcpu, &cpu, NULL, NULL);
	else if (strcmp(argv[1], "clone3") == 0)
		ret = syscall(435 /* clone3 */, NULL, 0);
	else
		ret = syscall(atol(argv[1]), 0, 0, 0, 0, 0, 0);
	if (ret < 0)
		printf("errno %d\n", errno);
	else
		printf("ok %ld\n", ret);
	return 0;
}
