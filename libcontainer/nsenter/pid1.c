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
//     filter the parent compiled, rlimits, umask, cwd (plan.c); then the
//     wait for `start` (waiter.c).
// Each step mirrors the Go init's (process.go, credentials.go), with its
// error texts.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "plan.h"

// Keep in step with parent_build.go.
enum { P1_MSG_JOINED = 20, P1_MSG_MOUNT = 21, P1_MSG_MOUNTED = 22, P1_MSG_JOIN = 24 };

#define PID1_ENV "_OCIRUN_PID1="

int ocirun_write_full(int fd, const void *buf, size_t len); // nsexec.c

// serve_mount mounts what the parent asks on the target it sent, from here:
// a proc mount shows the pid namespace of the process that makes it.
// Payload: u32 flags, source, fstype, data. Reply: u32 errno (0 done).
static void serve_mount(char *buf, uint32_t len, int target)
{
	struct cursor c = { buf, buf + len };
	uint32_t flags = plan_get32(&c), err = 0;
	char *source = plan_getbytes(&c, NULL), *fstype = plan_getbytes(&c, NULL), *data = plan_getbytes(&c, NULL);
	char path[64];

	if (target < 0)
		plan_fail(0, "mount request without a target");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", target);
	if (mount(source, path, fstype, flags, *data ? data : NULL) < 0)
		err = errno;
	close(target);
	plan_send(P1_MSG_MOUNTED, &err, sizeof(err));
}

// join_cgroups joins the cgroups the parent made: writing "0" to each tasks
// file (a task moving itself takes no global lock, see nsexec.c's
// join_cgroup, where the parent writing our pid would), then the cgroup
// namespace. Payload: u32 cgroupns, the tasks files. It returns the memory
// cgroup's tasks file, sent along when that is joined last, or -1.
static int join_cgroups(char *buf, uint32_t len, int memcg)
{
	struct cursor c = { buf, buf + len };
	uint32_t cgroupns = plan_get32(&c);
	char **tasks = plan_getstrv(&c);

	for (char **t = tasks; *t != NULL; t++) {
		int fd = open(*t, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			plan_fail(errno, "join cgroup: open %s", *t);
		if (ocirun_write_full(fd, "0", 1) < 0)
			plan_fail(errno, "join cgroup: write %s", *t);
		close(fd);
	}
	free(tasks);
	if (cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		plan_fail(errno, "unshare cgroup namespace");
	return memcg;
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
			plan_fail(errno, "join the %s namespace", kinds[i].name);
		close(ns[i]);
	}
	if (fchdir(root) < 0 || chroot(".") < 0)
		plan_fail(errno, "take the builder's root");
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
	if (sscanf(spec, "%d,%d,%d,%d,%d,%d,%d,%d%n", &plan_sock, &lfd, &exe, &ns[0], &ns[1], &ns[2], &ns[3], &root,
		   &n) != 8 || spec[n] != '\0' || plan_sock < 3 || lfd < 3 || root < 3 || ns[3] < 3)
		_exit(1);
	for (int i = 0; i < 3; i++)
		if (ns[i] != -1 && ns[i] < 3)
			_exit(1);
	if (exe >= 3 && exe != plan_sock && exe != lfd)
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
		char *buf = plan_recv(&type, &len, &fd);
		switch (type) {
		case P1_MSG_MOUNT:
			serve_mount(buf, len, fd);
			break;
		case P1_MSG_JOIN:
			if (joined)
				plan_fail(0, "asked to join the cgroups twice");
			memcg = join_cgroups(buf, len, fd);
			joined = 1;
			plan_send(P1_MSG_JOINED, NULL, 0);
			break;
		case PLAN_MSG_PLAN:
			if (fd >= 0)
				close(fd);
			if (!joined)
				plan_fail(0, "the process before the cgroups");
			plan_apply(buf, len, lfd, memcg);
		default:
			plan_fail(0, "unexpected message %u from the parent", type);
		}
		free(buf);
	}
}
