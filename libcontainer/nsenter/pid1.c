// pid1.c: a created container's first process when the parent builds the
// container itself (libcontainer/parent_build.go). The parent clones it
// into a new pid namespace and execs our sealed binary as `ocirun pid1` with
// _OCIRUN_PID1=SOCK,LISTEN,EXE,NET,IPC,UTS,MNT,ROOT its only environment:
// the namespaces the parent's builder thread made ahead (-1 for one the
// container does not have), which it joins first, and the builder's root,
// which it takes (parent_build.go, builderNSKinds). This constructor branch
// is all it ever runs: no Go runtime starts in the container. It serves the
// parent, whose thread builds the rootfs in the mount namespace they share,
// and makes the cgroup meanwhile:
//   - a mount: the mounts whose kind is bound to the pid namespace of
//     whoever makes them (proc) are made here, on a target the parent
//     resolved and sent as an fd;
//   - the cgroups: it joins them (the v1 tasks files, by writing "0"), then
//     makes its cgroup namespace if it has one (its root is then the
//     container's cgroup, as the Go init's is), and keeps the memory
//     cgroup's tasks file to join last;
//   - the process's plan: ids, capabilities, no_new_privs, the seccomp
//     filter the parent compiled, rlimits, umask, cwd; then the wait for
//     `start` (waiter.c).
// Each step mirrors the Go init's (process.go, credentials.go), with its
// error texts.
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

// Keep in step with parent_build.go.
enum { P1_MSG_ERROR = 4, P1_MSG_JOINED = 20, P1_MSG_MOUNT = 21, P1_MSG_MOUNTED = 22, P1_MSG_PLAN = 23, P1_MSG_JOIN = 24 };
enum { P1_NNP = 1, P1_UMASK = 2, P1_KEYRING = 4 };

#define PID1_ENV "_OCIRUN_PID1="

int ocirun_write_full(int fd, const void *buf, size_t len);             // nsexec.c
int ocirun_read_full(int fd, void *buf, size_t len);                    // nsexec.c
void ocirun_vfail(int sock, int err, const char *fmt, va_list ap)        // nsexec.c
	__attribute__((noreturn, format(printf, 3, 0)));
void ocirun_wait_start(int sock, int lfd, int memcg, char **args, char **envp); // waiter.c

static int p1_sock = -1;

static void p1_send(uint32_t type, const void *data, uint32_t len)
{
	uint32_t hdr[2] = { type, len };
	if (ocirun_write_full(p1_sock, hdr, sizeof(hdr)) < 0 || (len && ocirun_write_full(p1_sock, data, len) < 0))
		_exit(1);
}

// p1_fail reports a failure to the parent, with errno's text when err is
// set, and exits.
static void p1_fail(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void p1_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ocirun_vfail(p1_sock, err, fmt, ap);
}

// p1_recv reads one message and the fd sent with it, if any (-1 otherwise).
// The parent gone (EOF) ends us quietly: it cleans up.
static char *p1_recv(uint32_t *type, uint32_t *len, int *fd)
{
	uint32_t hdr[2];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	char *buf;

	*fd = -1;
	do
		n = recvmsg(p1_sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(1);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if ((size_t)n < sizeof(hdr) && ocirun_read_full(p1_sock, (char *)hdr + n, sizeof(hdr) - n) < 0)
		_exit(1);
	if (hdr[1] > (64u << 20))
		p1_fail(0, "message of %u bytes is too large", hdr[1]);
	buf = malloc(hdr[1] + 1);
	if (buf == NULL)
		p1_fail(ENOMEM, "read message");
	if (ocirun_read_full(p1_sock, buf, hdr[1]) < 0)
		_exit(1);
	buf[hdr[1]] = '\0';
	*type = hdr[0];
	*len = hdr[1];
	return buf;
}

// A bounds-checked reader of the parent's little-endian records.
struct cursor {
	const char *p, *end;
};

static uint32_t get32(struct cursor *c)
{
	uint32_t v;
	if (c->end - c->p < 4)
		p1_fail(0, "malformed message from the parent");
	memcpy(&v, c->p, 4);
	c->p += 4;
	return v;
}

static uint64_t get64(struct cursor *c)
{
	uint64_t lo = get32(c), hi = get32(c);
	return hi << 32 | lo;
}

// getbytes returns the next length-prefixed field in place, NUL-terminated
// (the parent puts a NUL after every field).
static char *getbytes(struct cursor *c, uint32_t *len)
{
	uint32_t n = get32(c);
	char *s = (char *)c->p;
	if ((size_t)(c->end - c->p) < (size_t)n + 1 || s[n] != '\0')
		p1_fail(0, "malformed message from the parent");
	c->p += n + 1;
	if (len)
		*len = n;
	return s;
}

static char **getstrv(struct cursor *c)
{
	uint32_t n = get32(c);
	char **v;
	if (n > (uint32_t)(c->end - c->p))
		p1_fail(0, "malformed message from the parent");
	v = calloc(n + 1, sizeof(char *));
	if (v == NULL)
		p1_fail(ENOMEM, "read message");
	for (uint32_t i = 0; i < n; i++)
		v[i] = getbytes(c, NULL);
	return v;
}

// serve_mount mounts what the parent asks on the target it sent, from here:
// a proc mount shows the pid namespace of the process that makes it.
// Payload: u32 flags, source, fstype, data. Reply: u32 errno (0 done).
static void serve_mount(char *buf, uint32_t len, int target)
{
	struct cursor c = { buf, buf + len };
	uint32_t flags = get32(&c), err = 0;
	char *source = getbytes(&c, NULL), *fstype = getbytes(&c, NULL), *data = getbytes(&c, NULL);
	char path[64];

	if (target < 0)
		p1_fail(0, "mount request without a target");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", target);
	if (mount(source, path, fstype, flags, *data ? data : NULL) < 0)
		err = errno;
	close(target);
	p1_send(P1_MSG_MOUNTED, &err, sizeof(err));
}

// join_cgroups joins the cgroups the parent made: writing "0" to each tasks
// file (a task moving itself takes no global lock, see nsexec.c's
// join_cgroup, where the parent writing our pid would), then the cgroup
// namespace. Payload: u32 cgroupns, the tasks files. It returns the memory
// cgroup's tasks file, sent along when that is joined last, or -1.
static int join_cgroups(char *buf, uint32_t len, int memcg)
{
	struct cursor c = { buf, buf + len };
	uint32_t cgroupns = get32(&c);
	char **tasks = getstrv(&c);

	for (char **t = tasks; *t != NULL; t++) {
		int fd = open(*t, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			p1_fail(errno, "join cgroup: open %s", *t);
		if (ocirun_write_full(fd, "0", 1) < 0)
			p1_fail(errno, "join cgroup: write %s", *t);
		close(fd);
	}
	free(tasks);
	if (cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		p1_fail(errno, "unshare cgroup namespace");
	return memcg;
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
		p1_fail(errno, "mark fds close-on-exec");
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
		p1_fail(errno, "capget");
	data[0].effective = data[0].permitted;
	data[1].effective = data[1].permitted;
	if (syscall(SYS_capset, &hdr, data) < 0)
		p1_fail(errno, "raise the kept capabilities");
}

static void load_filter(uint32_t flags, char *bpf, uint32_t len)
{
	struct sock_fprog prog = { (unsigned short)(len / sizeof(struct sock_filter)), (struct sock_filter *)bpf };
	if (len == 0)
		return;
	if (len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		p1_fail(EINVAL, "load seccomp filter"); // what the kernel says, before the count could wrap
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0)
		p1_fail(errno, "load seccomp filter");
}

// prlimit_raw is prlimit64 on ourselves: the C library's setrlimit may
// signal every thread, and make other calls than the one the filter allows.
static int prlimit_raw(uint32_t type, const struct rlimit *set, struct rlimit *get)
{
	return syscall(SYS_prlimit64, 0, type, set, get);
}

struct rlim {
	uint32_t type;
	uint64_t soft, hard;
};

// apply_plan gives this process everything the user's process inherits, in
// the Go init's order (process.go prepareProcess, credentials.go
// dropPrivileges), and never returns.
static void apply_plan(char *buf, uint32_t len, int lfd, int memcg)
{
	struct cursor c = { buf, buf + len };
	uint32_t uid = get32(&c), gid = get32(&c), ngroups = get32(&c);
	gid_t *groups;
	char gidtext[512];
	size_t gl = 0;

	if (ngroups > 65536)
		p1_fail(0, "malformed message from the parent");
	groups = calloc(ngroups + 1, sizeof(gid_t));
	if (groups == NULL)
		p1_fail(ENOMEM, "read plan");
	gl += snprintf(gidtext, sizeof(gidtext), "[");
	for (uint32_t i = 0; i < ngroups; i++) {
		groups[i] = get32(&c);
		if (gl < sizeof(gidtext))
			gl += snprintf(gidtext + gl, sizeof(gidtext) - gl, i ? " %u" : "%u", groups[i]);
	}
	if (gl < sizeof(gidtext))
		snprintf(gidtext + gl, sizeof(gidtext) - gl, "]");
	uint64_t bounding = get64(&c), effective = get64(&c), permitted = get64(&c);
	uint64_t inheritable = get64(&c), ambient = get64(&c);
	uint32_t lastcap = get32(&c), flags = get32(&c), mask = get32(&c), nrl = get32(&c);
	if (lastcap > 63 || nrl > 64)
		p1_fail(0, "malformed message from the parent");
	struct rlim rl[64];
	for (uint32_t i = 0; i < nrl; i++) {
		rl[i].type = get32(&c);
		rl[i].soft = get64(&c);
		rl[i].hard = get64(&c);
	}
	char *cwd = getbytes(&c, NULL), *keyring = getbytes(&c, NULL);
	uint32_t preserve = get32(&c), sflags = get32(&c), bpflen;
	char *bpf = getbytes(&c, &bpflen);
	char **args = getstrv(&c), **env = getstrv(&c);
	if (args[0] == NULL || bpflen % sizeof(struct sock_filter) != 0)
		p1_fail(0, "malformed message from the parent");

	// Raising a hard limit needs CAP_SYS_RESOURCE, which the process may not
	// keep: raise now, set the exact limits last.
	for (uint32_t i = 0; i < nrl; i++) {
		struct rlimit cur;
		if (prlimit_raw(rl[i].type, NULL, &cur) < 0)
			p1_fail(errno, "get rlimit %u", rl[i].type);
		if (rl[i].hard <= cur.rlim_max)
			continue;
		cur.rlim_max = rl[i].hard;
		if (prlimit_raw(rl[i].type, &cur, NULL) < 0)
			p1_fail(errno, "set rlimit %u (soft %llu, hard %llu)", rl[i].type,
				(unsigned long long)cur.rlim_cur, (unsigned long long)cur.rlim_max);
	}
	// A session keyring of its own: the caller's keys stay out of reach.
	if ((flags & P1_KEYRING) && syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, keyring) < 0 &&
	    errno != ENOSYS && errno != EPERM && errno != EDQUOT)
		p1_fail(errno, "join session keyring");
	umask((flags & P1_UMASK) ? mask : 022);
	// CVE-2024-21626: a cwd the kernel cannot name from our root is outside it.
	if (chdir(cwd) < 0)
		p1_fail(errno, "chdir to process.cwd \"%s\"", cwd);
	{
		char wd[4096];
		if (getcwd(wd, sizeof(wd)) == NULL) {
			if (errno == ENOENT)
				p1_fail(0, "process.cwd \"%s\" is outside the container's root", cwd);
			p1_fail(errno, "getcwd after chdir to \"%s\"", cwd);
		}
		if (wd[0] != '/')
			p1_fail(0, "process.cwd \"%s\" is outside the container's root", cwd);
	}
	// Nothing of ours (or our caller's) past the preserved fds reaches the process.
	cloexec_from(3 + (int)preserve);

	// Bounding set first (needs CAP_SETPCAP), then groups and ids with
	// PR_SET_KEEPCAPS so the permitted set survives, then the other sets.
	for (uint32_t i = 0; i <= lastcap; i++)
		if (!(bounding >> i & 1) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0)
			p1_fail(errno, "drop bounding capabilities");
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		p1_fail(errno, "set keepcaps");
	// Raw calls: we are one thread, and the C library's versions would
	// signal every thread to make them.
	if (syscall(SYS_setgroups, ngroups, groups) < 0)
		p1_fail(errno, "set process.user.additionalGids %s", gidtext);
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		p1_fail(errno, "set process.user.gid %u", gid);
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		p1_fail(errno, "set process.user.uid %u", uid);
	// Without no_new_privs a filter needs CAP_SYS_ADMIN: load it now, with
	// the kept capabilities in effect, before the process's own sets apply.
	if (!(flags & P1_NNP) && bpflen) {
		raise_effective();
		load_filter(sflags, bpf, bpflen);
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		p1_fail(errno, "clear keepcaps");
	if (capset_sets(effective, permitted, inheritable) < 0)
		p1_fail(errno, "set capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		p1_fail(errno, "set ambient capabilities");
	for (uint32_t i = 0; i <= lastcap; i++)
		if ((ambient >> i & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
			p1_fail(errno, "set ambient capabilities");
	if (flags & P1_NNP) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			p1_fail(errno, "set no_new_privs");
		load_filter(sflags, bpf, bpflen);
	}
	// The exact limits last: they bind us as much as the process.
	for (uint32_t i = 0; i < nrl; i++) {
		struct rlimit r = { rl[i].soft, rl[i].hard };
		if (prlimit_raw(rl[i].type, &r, NULL) < 0)
			p1_fail(errno, "set rlimit %u (soft %llu, hard %llu)", rl[i].type,
				(unsigned long long)rl[i].soft, (unsigned long long)rl[i].hard);
	}
	ocirun_wait_start(p1_sock, lfd, memcg, args, env);
}

// join_builder moves us into the namespaces the builder made, before
// anything else, and into its root: setns of a mount namespace leaves us at
// the namespace's root, which under a chroot is not the builder's, and
// pivot_root moves only the tasks whose root is the one it replaces.
static void join_builder(int ns[4], int root)
{
	static const struct {
		int flag;
		const char *name;
	} kinds[4] = { { CLONE_NEWNET, "network" }, { CLONE_NEWIPC, "ipc" }, { CLONE_NEWUTS, "uts" },
		       { CLONE_NEWNS, "mount" } };

	for (int i = 0; i < 4; i++) {
		if (ns[i] == -1)
			continue;
		if (setns(ns[i], kinds[i].flag) < 0)
			p1_fail(errno, "join the %s namespace", kinds[i].name);
		close(ns[i]);
	}
	if (fchdir(root) < 0 || chroot(".") < 0)
		p1_fail(errno, "take the builder's root");
	close(root);
}

// ocirun_pid1 returns when this process is not a parent-built pid 1;
// otherwise it never returns.
void ocirun_pid1(int argc, char **argv, char **envp)
{
	int lfd, exe, ns[4], root, memcg = -1, joined = 0, n = 0;
	const char *spec = NULL;

	if (argc != 2 || strcmp(argv[1], "pid1") != 0 || envp == NULL)
		return;
	for (char **e = envp; *e != NULL; e++)
		if (strncmp(*e, PID1_ENV, strlen(PID1_ENV)) == 0)
			spec = *e + strlen(PID1_ENV);
	if (spec == NULL)
		return;
	// Every fd is ours (>= 3) or, for a namespace the container does not
	// have, -1; the mount namespace it always has (parentBuilds).
	if (sscanf(spec, "%d,%d,%d,%d,%d,%d,%d,%d%n", &p1_sock, &lfd, &exe, &ns[0], &ns[1], &ns[2], &ns[3], &root,
		   &n) != 8 || spec[n] != '\0' || p1_sock < 3 || lfd < 3 || root < 3 || ns[3] < 3)
		_exit(1);
	for (int i = 0; i < 3; i++)
		if (ns[i] != -1 && ns[i] < 3)
			_exit(1);
	if (exe >= 3 && exe != p1_sock && exe != lfd)
		close(exe); // the sealed binary we were exec'd from: nothing of ours stays open
	// Not dumpable (CVE-2016-9962): we hold the parent's socket, the exec
	// socket and the memory cgroup's tasks file; the process's execve
	// makes it dumpable again.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(1);
	join_builder(ns, root);
	for (;;) {
		uint32_t type, len;
		int fd;
		char *buf = p1_recv(&type, &len, &fd);
		switch (type) {
		case P1_MSG_MOUNT:
			serve_mount(buf, len, fd);
			break;
		case P1_MSG_JOIN:
			if (joined)
				p1_fail(0, "asked to join the cgroups twice");
			memcg = join_cgroups(buf, len, fd);
			joined = 1;
			p1_send(P1_MSG_JOINED, NULL, 0);
			break;
		case P1_MSG_PLAN:
			if (fd >= 0)
				close(fd);
			if (!joined)
				p1_fail(0, "the process before the cgroups");
			apply_plan(buf, len, lfd, memcg);
		default:
			p1_fail(0, "unexpected message %u from the parent", type);
		}
		free(buf);
	}
}
