// plan.h: what a process the parent sets up in C shares with it: the
// socket and its framed messages, the reader of their little-endian records,
// and the process's plan (plan.c). Its users: a pid 1 the parent builds
// (pid1.c) and the process of `ocirun exec` (nsexec.c). Keep the message
// types and flags in step with parent_build.go.
#ifndef OCIRUN_PLAN_H
#define OCIRUN_PLAN_H
#include <stdint.h>

enum { PLAN_MSG_ERROR = 4, PLAN_MSG_PLAN = 23 };
enum { PLAN_NNP = 1, PLAN_UMASK = 2, PLAN_KEYRING = 4, PLAN_HOME = 8 };

// The socket to the parent, on which every failure is reported.
extern int plan_sock;
void plan_send(uint32_t type, const void *data, uint32_t len);
void plan_fail(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
char *plan_recv(uint32_t *type, uint32_t *len, int *fd);

// A bounds-checked reader of the parent's records: a malformed one fails.
struct cursor {
	const char *p, *end;
};
uint32_t plan_get32(struct cursor *c);
uint64_t plan_get64(struct cursor *c);
char *plan_getbytes(struct cursor *c, uint32_t *len);
char **plan_getstrv(struct cursor *c);

// plan_apply gives this process everything the user's process inherits;
// then, with an exec socket (lfd), it waits for `start` (waiter.c), without
// one it execs the process at once. It never returns.
void plan_apply(char *buf, uint32_t len, int lfd, int memcg) __attribute__((noreturn));

// plan_exec is the process of `ocirun exec` once the constructor has put
// it in the container (nsexec.c): it reads its plan from sock and execs.
void plan_exec(int sock) __attribute__((noreturn));
#endif
