// plan.c: a process's plan applied in C, as the Go init applies it
// (process.go prepareProcess, credentials.go dropPrivileges), with its error
// texts: ids, capabilities, no_new_privs, the seccomp filter the parent
// compiled, rlimits, umask, cwd, HOME. A pid 1 the parent builds (pid1.c)
// then waits for `start`; the process of `ocirun exec` (plan_exec) execs at
// once. Either way no Go runtime starts in the container.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#include "plan.h"

int ocirun_write_full(int fd, const void *buf, size_t len);             // nsexec.c
int ocirun_read_full(int fd, void *buf, size_t len);                    // nsexec.c
void ocirun_vfail(int sock, int err, const char *fmt, va_list ap)        // nsexec.c
	__attribute__((noreturn, format(printf, 3, 0)));
void ocirun_wait_start(int sock, int lfd, int memcg, char **args, char **envp); // waiter.c
void ocirun_execvp(char **args, char **envp, char *msg, size_t len);            // waiter.c

int plan_sock = -1;

void plan_send(uint32_t type, const void *data, uint32_t len)
{
	uint32_t hdr[2] = { type, len };
	if (ocirun_write_full(plan_sock, hdr, sizeof(hdr)) < 0 || (len && ocirun_write_full(plan_sock, data, len) < 0))
		_exit(1);
}

// plan_fail reports a failure to the parent, with errno's text when err is
// set, and exits.
void plan_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ocirun_vfail(plan_sock, err, fmt, ap);
}

// plan_recv reads one message and the fd sent with it, if any (-1 otherwise).
// The parent gone (EOF) ends us quietly: it cleans up.
char *plan_recv(uint32_t *type, uint32_t *len, int *fd)
{
	uint32_t hdr[2];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	char *buf;

	*fd = -1;
	do
		n = recvmsg(plan_sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(1);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if ((size_t)n < sizeof(hdr) && ocirun_read_full(plan_sock, (char *)hdr + n, sizeof(hdr) - n) < 0)
		_exit(1);
	if (hdr[1] > (64u << 20))
		plan_fail(0, "message of %u bytes is too large", hdr[1]);
	buf = malloc(hdr[1] + 1);
	if (buf == NULL)
		plan_fail(ENOMEM, "read message");
	if (ocirun_read_full(plan_sock, buf, hdr[1]) < 0)
		_exit(1);
	buf[hdr[1]] = '\0';
	*type = hdr[0];
	*len = hdr[1];
	return buf;
}


uint32_t plan_get32(struct cursor *c)
{
	uint32_t v;
	if (c->end - c->p < 4)
		plan_fail(0, "malformed message from the parent");
	memcpy(&v, c->p, 4);
	c->p += 4;
	return v;
}

uint64_t plan_get64(struct cursor *c)
{
	uint64_t lo = plan_get32(c), hi = plan_get32(c);
	return hi << 32 | lo;
}

// getbytes returns the next length-prefixed field in place, NUL-terminated
// (the parent puts a NUL after every field).
char *plan_getbytes(struct cursor *c, uint32_t *len)
{
	uint32_t n = plan_get32(c);
	char *s = (char *)c->p;
	if ((size_t)(c->end - c->p) < (size_t)n + 1 || s[n] != '\0')
		plan_fail(0, "malformed message from the parent");
	c->p += n + 1;
	if (len)
		*len = n;
	return s;
}

char **plan_getstrv(struct cursor *c)
{
	uint32_t n = plan_get32(c);
	char **v;
	if (n > (uint32_t)(c->end - c->p))
		plan_fail(0, "malformed message from the parent");
	v = calloc(n + 1, sizeof(char *));
	if (v == NULL)
		plan_fail(ENOMEM, "read message");
	for (uint32_t i = 0; i < n; i++)
		v[i] = plan_getbytes(c, NULL);
	return v;
}

// cloexec_from marks every fd from `first` on close-on-exec (process.go's
// closeExtraFds): close_range, else a walk of /proc/self/fd.
static void cloexec_from(int first)
{
	DIR *d;
	struct dirent *e;

	if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	d = opendir("/proc/self/fd");
	if (d == NULL)
		plan_fail(errno, "mark fds close-on-exec");
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		if (fd >= first && fd != dirfd(d))
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(d);
}

static int capset_sets(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t)eff, (uint32_t)perm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) },
	};
	return syscall(SYS_capset, &hdr, data);
}

// raise_effective makes the effective set the permitted one: the switch
// from uid 0 cleared it, PR_SET_KEEPCAPS kept the permitted set.
static void raise_effective(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		plan_fail(errno, "capget");
	data[0].effective = data[0].permitted;
	data[1].effective = data[1].permitted;
	if (syscall(SYS_capset, &hdr, data) < 0)
		plan_fail(errno, "raise the kept capabilities");
}

static void load_filter(uint32_t flags, char *bpf, uint32_t len)
{
	struct sock_fprog prog = { (unsigned short)(len / sizeof(struct sock_filter)), (struct sock_filter *)bpf };
	if (len == 0)
		return;
	if (len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		plan_fail(EINVAL, "load seccomp filter"); // what the kernel says, before the count could wrap
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0)
		plan_fail(errno, "load seccomp filter");
}

// prlimit_raw is prlimit64 on ourselves: the C library's setrlimit may
// signal every thread, and make other calls than the one the filter allows.
static int prlimit_raw(uint32_t type, const struct rlimit *set, struct rlimit *get)
{
	return syscall(SYS_prlimit64, 0, type, set, get);
}

// with_home adds HOME from the container's /etc/passwd, or "/", to an
// environment without one, as the Go init's withHome does: the first entry
// whose uid field is the process's and whose home field is not empty. The
// scan stops at a line of 64 KiB or more with its newline, as Go's line
// scanner does: the file is the container's, and may be endless (a link to
// /dev/zero). A home with a NUL in it, no environment entry, is passed over
// (the Go init takes it, and its exec then fails with EINVAL).
static char **with_home(char **env, uint32_t uid)
{
	static char line[65535 + 1]; // a line, and room for the NUL that ends its last field
	char want[16], *home = NULL, *entry, **out;
	size_t n;
	FILE *f;

	for (n = 0; env[n] != NULL; n++)
		if (strncmp(env[n], "HOME=", 5) == 0)
			return env;
	snprintf(want, sizeof(want), "%u", uid);
	f = fopen("/etc/passwd", "re");
	while (f != NULL && home == NULL) {
		// One line, its length known: a NUL inside is data, as in Go.
		size_t len = 0;
		int ch;
		while ((ch = getc(f)) != EOF && ch != '\n' && len < sizeof(line) - 1)
			line[len++] = (char)ch;
		if (ch == EOF && len == 0)
			break;
		if (ch != EOF && ch != '\n')
			break; // too long
		if (len > 0 && line[len - 1] == '\r')
			len--;
		char *field[7] = { line };
		int nf = 1;
		for (size_t i = 0; i < len && nf < 7; i++)
			if (line[i] == ':') {
				line[i] = '\0';
				field[nf++] = line + i + 1;
			}
		// Each field ends at the next ':' (cut above) or the line's end.
		char *end = line + len;
		size_t homelen = nf >= 6 ? (size_t)((nf > 6 ? field[6] - 1 : end) - field[5]) : 0;
		if (nf >= 6 && (size_t)(field[3] - 1 - field[2]) == strlen(want) &&
		    memcmp(field[2], want, strlen(want)) == 0 && homelen > 0 && memchr(field[5], '\0', homelen) == NULL) {
			field[5][homelen] = '\0';
			home = field[5];
		}
	}
	if (asprintf(&entry, "HOME=%s", home ? home : "/") < 0 || (out = calloc(n + 2, sizeof(char *))) == NULL)
		plan_fail(ENOMEM, "set HOME");
	memcpy(out, env, n * sizeof(char *));
	out[n] = entry;
	if (f != NULL)
		fclose(f);
	return out;
}

struct rlim {
	uint32_t type;
	uint64_t soft, hard;
};

// plan_apply applies the plan in the Go init's order (process.go
// prepareProcess, credentials.go dropPrivileges); see plan.h.
void plan_apply(char *buf, uint32_t len, int lfd, int memcg)
{
	struct cursor c = { buf, buf + len };
	uint32_t uid = plan_get32(&c), gid = plan_get32(&c), ngroups = plan_get32(&c);
	gid_t *groups;
	char gidtext[512];
	size_t gl = 0;

	if (ngroups > 65536)
		plan_fail(0, "malformed message from the parent");
	groups = calloc(ngroups + 1, sizeof(gid_t));
	if (groups == NULL)
		plan_fail(ENOMEM, "read plan");
	gl += snprintf(gidtext, sizeof(gidtext), "[");
	for (uint32_t i = 0; i < ngroups; i++) {
		groups[i] = plan_get32(&c);
		if (gl < sizeof(gidtext))
			gl += snprintf(gidtext + gl, sizeof(gidtext) - gl, i ? " %u" : "%u", groups[i]);
	}
	if (gl < sizeof(gidtext))
		snprintf(gidtext + gl, sizeof(gidtext) - gl, "]");
	uint64_t bounding = plan_get64(&c), effective = plan_get64(&c), permitted = plan_get64(&c);
	uint64_t inheritable = plan_get64(&c), ambient = plan_get64(&c);
	uint32_t lastcap = plan_get32(&c), flags = plan_get32(&c), mask = plan_get32(&c), nrl = plan_get32(&c);
	if (lastcap > 63 || nrl > 64)
		plan_fail(0, "malformed message from the parent");
	struct rlim rl[64];
	for (uint32_t i = 0; i < nrl; i++) {
		rl[i].type = plan_get32(&c);
		rl[i].soft = plan_get64(&c);
		rl[i].hard = plan_get64(&c);
	}
	char *cwd = plan_getbytes(&c, NULL), *keyring = plan_getbytes(&c, NULL);
	uint32_t preserve = plan_get32(&c), sflags = plan_get32(&c), bpflen;
	char *bpf = plan_getbytes(&c, &bpflen);
	char **args = plan_getstrv(&c), **env = plan_getstrv(&c);
	if (args[0] == NULL || bpflen % sizeof(struct sock_filter) != 0)
		plan_fail(0, "malformed message from the parent");
	if (flags & PLAN_HOME)
		env = with_home(env, uid);
	{
		// No signal blocked, whatever our caller had blocked (before the
		// filter, which need not allow the call).
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}

	// Raising a hard limit needs CAP_SYS_RESOURCE, which the process may not
	// keep: raise now, set the exact limits last.
	for (uint32_t i = 0; i < nrl; i++) {
		struct rlimit cur;
		if (prlimit_raw(rl[i].type, NULL, &cur) < 0)
			plan_fail(errno, "get rlimit %u", rl[i].type);
		if (rl[i].hard <= cur.rlim_max)
			continue;
		cur.rlim_max = rl[i].hard;
		if (prlimit_raw(rl[i].type, &cur, NULL) < 0)
			plan_fail(errno, "set rlimit %u (soft %llu, hard %llu)", rl[i].type,
				(unsigned long long)cur.rlim_cur, (unsigned long long)cur.rlim_max);
	}
	// A session keyring of its own: the caller's keys stay out of reach.
	if ((flags & PLAN_KEYRING) && syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, keyring) < 0 &&
	    errno != ENOSYS && errno != EPERM && errno != EDQUOT)
		plan_fail(errno, "join session keyring");
	umask((flags & PLAN_UMASK) ? mask : 022);
	// CVE-2024-21626: a cwd the kernel cannot name from our root is outside it.
	if (chdir(cwd) < 0)
		plan_fail(errno, "chdir to process.cwd \"%s\"", cwd);
	{
		char wd[4096];
		if (getcwd(wd, sizeof(wd)) == NULL) {
			if (errno == ENOENT)
				plan_fail(0, "process.cwd \"%s\" is outside the container's root", cwd);
			plan_fail(errno, "getcwd after chdir to \"%s\"", cwd);
		}
		if (wd[0] != '/')
			plan_fail(0, "process.cwd \"%s\" is outside the container's root", cwd);
	}
	// Nothing of ours (or our caller's) past the preserved fds reaches the process.
	cloexec_from(3 + (int)preserve);

	// Bounding set first (needs CAP_SETPCAP), then groups and ids with
	// PR_SET_KEEPCAPS so the permitted set survives, then the other sets.
	for (uint32_t i = 0; i <= lastcap; i++)
		if (!(bounding >> i & 1) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0)
			plan_fail(errno, "drop bounding capabilities");
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		plan_fail(errno, "set keepcaps");
	// Raw calls: we are one thread, and the C library's versions would
	// signal every thread to make them.
	if (syscall(SYS_setgroups, ngroups, groups) < 0)
		plan_fail(errno, "set process.user.additionalGids %s", gidtext);
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		plan_fail(errno, "set process.user.gid %u", gid);
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		plan_fail(errno, "set process.user.uid %u", uid);
	// Without no_new_privs a filter needs CAP_SYS_ADMIN: load it now, with
	// the kept capabilities in effect, before the process's own sets apply.
	if (!(flags & PLAN_NNP) && bpflen) {
		raise_effective();
		load_filter(sflags, bpf, bpflen);
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		plan_fail(errno, "clear keepcaps");
	if (capset_sets(effective, permitted, inheritable) < 0)
		plan_fail(errno, "set capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		plan_fail(errno, "set ambient capabilities");
	for (uint32_t i = 0; i <= lastcap; i++)
		if ((ambient >> i & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
			plan_fail(errno, "set ambient capabilities");
	if (flags & PLAN_NNP) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			plan_fail(errno, "set no_new_privs");
		load_filter(sflags, bpf, bpflen);
	}
	// The exact limits last: they bind us as much as the process.
	for (uint32_t i = 0; i < nrl; i++) {
		struct rlimit r = { rl[i].soft, rl[i].hard };
		if (prlimit_raw(rl[i].type, &r, NULL) < 0)
			plan_fail(errno, "set rlimit %u (soft %llu, hard %llu)", rl[i].type,
				(unsigned long long)rl[i].soft, (unsigned long long)rl[i].hard);
	}
	if (lfd < 0) {
		char msg[512];
		ocirun_execvp(args, env, msg, sizeof(msg));
		plan_fail(0, "%s", msg);
	}
	ocirun_wait_start(plan_sock, lfd, memcg, args, env);
	_exit(1); // not reached
}

void plan_exec(int sock)
{
	uint32_t type, len;
	int fd;
	char *buf;

	plan_sock = sock;
	// A session of its own, as the Go init makes (init.go newSession).
	if (setsid() < 0)
		plan_fail(errno, "setsid");
	buf = plan_recv(&type, &len, &fd);
	if (fd >= 0)
		close(fd);
	if (type != PLAN_MSG_PLAN)
		plan_fail(0, "unexpected message %u from the parent", type);
	plan_apply(buf, len, -1, -1);
}
