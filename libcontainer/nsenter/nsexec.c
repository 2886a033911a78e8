// nsexec.c: the part of `ocirun init` that must run before the Go runtime.
//
// Stage 1 (this process, exec'd by the parent): read the bootstrap, join the
// namespaces given by path, create a user namespace and let the parent write
// its id maps (and place us in the cgroup), then unshare the other namespaces.
// A new pid or time namespace only applies to children, so we fork once;
// the child returns to Go as the container's init (pid 1 of a new pid
// namespace) and this process reports the child's pid and exits.
// For `ocirun exec`, when the parent asks for it, the child stays in C
// instead: it applies the process's plan and execs (plan.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include "plan.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

// Keep in step with protocol.go.
enum { BS_CLONE_FLAGS = 1, BS_NS_PATH = 2, BS_TIME_OFFSETS = 3, BS_CGROUP_TASKS = 4, BS_EXEC_PLAN = 5 };
enum { MSG_SYNC_REQ = 1, MSG_SYNC_ACK = 2, MSG_PID = 3, MSG_ERROR = 4 };

#define MAX_JOIN 16
#define MAX_CGROUPS 32

struct join {
	uint32_t flag;
	char *path;
	int fd;
};

static int sockfd = -1;

// The RLIMIT_NOFILE we were started with, before Go's runtime raises it:
// the init restores it before it re-executes itself as the waiter (Go's own
// exec does the same; see waiter.c).
struct rlimit ocirun_orig_nofile;
int ocirun_orig_nofile_set;

// ocirun_write_full writes all of buf, across EINTR and short writes (waiter.c uses it too).
int ocirun_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

// ocirun_read_full reads exactly len bytes across EINTR and short reads (plan.c uses it too).
int ocirun_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static void send_msg(uint32_t type, const void *data, uint32_t len)
{
	uint32_t hdr[2] = { type, len };
	if (ocirun_write_full(sockfd, hdr, sizeof(hdr)) < 0 || (len && ocirun_write_full(sockfd, data, len) < 0))
		_exit(1);
}

// ocirun_vfail sends a failure to the parent on sock as a MSG_ERROR, with
// err's text when err is set, and exits (bail here, plan_fail in plan.c).
const char *ocirun_errtext(int err, char *buf, size_t len); // waiter.c
void ocirun_vfail(int sock, int err, const char *fmt, va_list ap) __attribute__((noreturn, format(printf, 3, 0)));
void ocirun_vfail(int sock, int err, const char *fmt, va_list ap)
{
	char msg[1024], e[128];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (n < 0)
		n = 0;
	if (err && (size_t)n < sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - n, ": %s", ocirun_errtext(err, e, sizeof(e)));
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	uint32_t hdr[2] = { MSG_ERROR, (uint32_t)n };
	if (ocirun_write_full(sock, hdr, sizeof(hdr)) == 0)
		ocirun_write_full(sock, msg, n);
	_exit(1);
}

// bail reports a failure (with errno's text) to the parent and exits.
static void bail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void bail(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	ocirun_vfail(sockfd, saved, fmt, ap);
}

static const char *ns_name(uint32_t flag)
{
	switch (flag) {
	case CLONE_NEWUSER: return "user";
	case CLONE_NEWNS: return "mount";
	case CLONE_NEWPID: return "pid";
	case CLONE_NEWNET: return "network";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWCGROUP: return "cgroup";
	case CLONE_NEWTIME: return "time";
	}
	return "unknown";
}

// join_ns enters every joined namespace of kind `flag` (or every one but user and mount when flag is 0).
static void join_ns(struct join *j, int n, uint32_t flag)
{
	for (int i = 0; i < n; i++) {
		int want = flag ? j[i].flag == flag : (j[i].flag != CLONE_NEWUSER && j[i].flag != CLONE_NEWNS);
		if (!want)
			continue;
		if (setns(j[i].fd, j[i].flag) < 0)
			bail("join %s namespace %s", ns_name(j[i].flag), j[i].path);
		close(j[i].fd);
	}
}

// join_cgroup moves this thread (the whole process: we are single-threaded
// here) into a v1 hierarchy's cgroup by writing "0" to its tasks file. A
// task moving itself, one thread at a time, takes no global lock in the
// kernel; writing a pid to cgroup.procs takes cgroup_threadgroup_rwsem for
// writing, which waits for an RCU grace period (5-15 ms per create).
static void join_cgroup(const char *tasks)
{
	int fd = open(tasks, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		bail("join cgroup: open %s", tasks);
	if (ocirun_write_full(fd, "0", 1) < 0)
		bail("join cgroup: write %s", tasks);
	close(fd);
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		bail("open %s", path);
	if (ocirun_write_full(fd, data, len) < 0)
		bail("write %s", path);
	close(fd);
}

void ocirun_nsexec(void)
{
	const char *env = getenv("_OCIRUN_INITPIPE");
	uint32_t total, flags = 0, joined = 0;
	struct join joins[MAX_JOIN];
	char *cgroups[MAX_CGROUPS];
	char *buf, *timens = NULL;
	size_t timens_len = 0;
	int njoin = 0, ncgroups = 0, exec_plan = 0;

	if (env == NULL || *env == '\0')
		return; // not the init: an ordinary ocirun command
	sockfd = atoi(env);
	if (sockfd < 3)
		_exit(1);
	if (getrlimit(RLIMIT_NOFILE, &ocirun_orig_nofile) == 0)
		ocirun_orig_nofile_set = 1;

	if (ocirun_read_full(sockfd, &total, sizeof(total)) < 0)
		_exit(1); // parent gone
	if (total > (1 << 20))
		bail("bootstrap message of %u bytes is too large", total);
	buf = malloc(total + 1);
	if (buf == NULL || ocirun_read_full(sockfd, buf, total) < 0)
		bail("read bootstrap");

	for (uint32_t off = 0; off + 8 <= total;) {
		uint32_t type, len;
		memcpy(&type, buf + off, 4);
		memcpy(&len, buf + off + 4, 4);
		off += 8;
		if (len > total - off)
			bail("bootstrap record %u overruns the message", type);
		char *data = buf + off;
		switch (type) {
		case BS_CLONE_FLAGS:
			if (len == 4)
				memcpy(&flags, data, 4);
			break;
		case BS_NS_PATH:
			if (len <= 4 || njoin == MAX_JOIN)
				bail("bad namespace path record");
			memcpy(&joins[njoin].flag, data, 4);
			joins[njoin].path = strndup(data + 4, len - 4);
			joined |= joins[njoin].flag;
			njoin++;
			break;
		case BS_TIME_OFFSETS:
			timens = data;
			timens_len = len;
			break;
		case BS_EXEC_PLAN:
			exec_plan = 1;
			break;
		case BS_CGROUP_TASKS:
			if (len == 0 || ncgroups == MAX_CGROUPS)
				bail("bad cgroup record");
			cgroups[ncgroups++] = strndup(data, len);
			break;
		}
		off += len;
	}

	// Not dumpable while we enter the container (CVE-2016-9962): a process
	// in a namespace we join must not ptrace us or open /proc/<us>/fd (the
	// parent's socket, our sealed binary, fds a caller leaked to ocirun),
	// here or in the Go init. The final execve of the user's process makes
	// it dumpable again. With no namespace to enter there is no other
	// security context, and nothing to protect against.
	int dumpable_off = (flags | joined) != 0;
	if (dumpable_off && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bail("make the init non-dumpable");

	// The cgroups first, before any namespace: with the host's root
	// credentials and view of /sys/fs/cgroup, and before anything we do
	// (or fork) could escape the container's limits.
	for (int i = 0; i < ncgroups; i++) {
		join_cgroup(cgroups[i]);
		free(cgroups[i]);
	}

	// Open every namespace file before joining any: once we are in another
	// mount namespace the paths would resolve in the wrong place.
	for (int i = 0; i < njoin; i++) {
		joins[i].fd = open(joins[i].path, O_RDONLY | O_CLOEXEC);
		if (joins[i].fd < 0)
			bail("open %s namespace %s", ns_name(joins[i].flag), joins[i].path);
	}

	// The user namespace first: it gives us the capabilities to join or make the rest.
	join_ns(joins, njoin, CLONE_NEWUSER);
	if (flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("unshare user namespace");
	}

	// One round trip with the parent: it writes our uid/gid maps, moves us into
	// the container's cgroup (before a cgroup namespace is made, so the
	// namespace's root is that cgroup) and sets what needs a host view.
	// The parent writes the id maps of a user namespace we made:
	// /proc/<us>/{u,g}id_map of a non-dumpable process belong to the host's
	// root, not to the user namespace's owner, so we are dumpable for that
	// round trip only. Not when we joined one (exec, a path): nothing is
	// written, and that namespace's processes could then ptrace us.
	int usermap = dumpable_off && (flags & CLONE_NEWUSER);
	if (usermap && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		bail("make the init dumpable for its id maps");
	send_msg(MSG_SYNC_REQ, NULL, 0);
	{
		uint32_t hdr[2];
		if (ocirun_read_full(sockfd, hdr, sizeof(hdr)) < 0)
			_exit(1);
		if (hdr[0] != MSG_SYNC_ACK)
			bail("unexpected message %u from parent", hdr[0]);
	}
	if (usermap && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bail("make the init non-dumpable");

	if ((flags | joined) & CLONE_NEWUSER) {
		// Become root of the user namespace; the Go init drops to the process user later.
		if (setresgid(0, 0, 0) < 0)
			bail("setresgid to 0 in the user namespace (is container gid 0 mapped?)");
		if (setresuid(0, 0, 0) < 0)
			bail("setresuid to 0 in the user namespace (is container uid 0 mapped?)");
		setgroups(0, NULL); // fails only when setgroups is denied; nothing to drop then
	}

	join_ns(joins, njoin, 0);
	if (flags & ~CLONE_NEWUSER) {
		if (unshare(flags & ~CLONE_NEWUSER) < 0)
			bail("unshare namespaces 0x%x", flags & ~CLONE_NEWUSER);
	}
	if (timens != NULL && (flags & CLONE_NEWTIME))
		write_file("/proc/self/timens_offsets", timens, timens_len);
	join_ns(joins, njoin, CLONE_NEWNS); // last: the paths above are host paths

	if ((flags | joined) & (CLONE_NEWPID | CLONE_NEWTIME)) {
		// A pid or time namespace takes effect for children only: fork the init into it.
		pid_t child = fork();
		if (child < 0)
			bail("fork into the new pid namespace");
		if (child > 0) {
			uint32_t pid = child;
			send_msg(MSG_PID, &pid, sizeof(pid));
			_exit(0);
		}
	} else {
		uint32_t pid = getpid();
		send_msg(MSG_PID, &pid, sizeof(pid));
	}
	free(buf);
	if (exec_plan)
		plan_exec(sockfd); // never returns
	// Return into the Go runtime, now inside the container's namespaces.
}

// ocirun_static reports whether this binary runs without a dynamic loader
// (no interpreter, so AT_BASE is 0): only then may the init re-execute it
// as the waiter inside the container, where an interpreter would be loaded
// from the container's root filesystem before start.
int ocirun_static(void)
{
	return getauxval(AT_BASE) == 0;
}
