// waiter.c: the created container's init while it waits for `start`.
//
// The Go init builds the container, drops to the process's credentials,
// loads seccomp, sets the rlimits, and then re-executes our sealed binary as
//     argv: ocirun wait ARG0 ARG1 ...
//     envp: the process's environment, then _OCIRUN_WAIT=SOCK,LISTEN,MEMCG
// Before the Go runtime starts, this constructor takes that branch: it joins
// the memory cgroup (so only what runs from here on is charged to the
// container), reports ready, waits on the exec socket, and execs the user's
// process exactly as the Go init would have. A waiting init is then a few
// hundred KiB of resident memory instead of a Go runtime's ten MiB. The exec
// of ourselves changes nothing the process gets: capabilities, no_new_privs,
// seccomp, rlimits, personality, ids and cwd carry over exec, and the second
// exec transforms them as the first would have.
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// Keep in step with create.go (msgReady) and nsexec.c (MSG_ERROR).
enum { WAIT_MSG_ERROR = 4, WAIT_MSG_READY = 13 };

#define WAIT_ENV "_OCIRUN_WAIT="

int ocirun_write_full(int fd, const void *buf, size_t len); // nsexec.c

static void wait_send(int sock, uint32_t type, const char *msg)
{
	uint32_t hdr[2] = { type, msg ? (uint32_t)strlen(msg) : 0 };
	if (ocirun_write_full(sock, hdr, sizeof(hdr)) < 0 || (hdr[1] && ocirun_write_full(sock, msg, hdr[1]) < 0))
		_exit(1);
}

// A catchable signal that would end the Go init ends the waiter too: as pid 1
// of its namespace, a signal without a handler would be ignored.
static void on_signal(int sig)
{
	_exit(128 + sig);
}

// errno values in Go's words (syscall.Errno), whichever C library ocirun
// is linked with: musl's strerror words some differently (ELOOP, EBUSY).
static const struct {
	int err;
	const char *text;
} go_errors[] = {
	{ E2BIG, "argument list too long" },
	{ EACCES, "permission denied" },
	{ EAGAIN, "resource temporarily unavailable" },
	{ EBADF, "bad file descriptor" },
	{ EBUSY, "device or resource busy" },
	{ EEXIST, "file exists" },
	{ EFAULT, "bad address" },
	{ EINVAL, "invalid argument" },
	{ EIO, "input/output error" },
	{ EISDIR, "is a directory" },
	{ ELIBBAD, "accessing a corrupted shared library" },
	{ ELOOP, "too many levels of symbolic links" },
	{ EMFILE, "too many open files" },
	{ ENAMETOOLONG, "file name too long" },
	{ ENFILE, "too many open files in system" },
	{ ENOENT, "no such file or directory" },
	{ ENOEXEC, "exec format error" },
	{ ENOMEM, "cannot allocate memory" },
	{ ENOSPC, "no space left on device" },
	{ ENOSYS, "function not implemented" },
	{ ENOTDIR, "not a directory" },
	{ EPERM, "operation not permitted" },
	{ ERANGE, "numerical result out of range" },
	{ ESRCH, "no such process" },
	{ ETXTBSY, "text file busy" },
	{ EUSERS, "too many users" },
};

// ocirun_errtext is errno's text as Go prints it: Go's words, else
// strerror's with a lower case first letter. Used by nsexec.c too.
const char *ocirun_errtext(int err, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(go_errors) / sizeof(go_errors[0]); i++)
		if (go_errors[i].err == err)
			return go_errors[i].text;
	snprintf(buf, len, "%s", strerror(err));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] += 'a' - 'A';
	return buf;
}

// go_quote writes s as Go's %q does (strconv.Quote) for what C gets here,
// valid UTF-8 (the rest keeps the Go init: plan.go asIs): ASCII's controls,
// quote and backslash escaped, C1 controls as \u00XX. Other characters are
// written as they are, where Go escapes those unicode.IsPrint rejects (a
// no-break space, a zero-width space, ...): only an error's text differs.
static void go_quote(char *out, size_t len, const char *s)
{
	static const char esc[] = "\a\b\f\n\r\t\v";
	static const char letter[] = "abfnrtv";
	size_t w = 0;

	if (len < 3)
		return;
	out[w++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && w + 11 < len; p++) {
		const char *e = *p ? strchr(esc, *p) : NULL;
		if (*p == '"' || *p == '\\') {
			out[w++] = '\\';
			out[w++] = (char)*p;
		} else if (e != NULL) {
			out[w++] = '\\';
			out[w++] = letter[e - esc];
		} else if (*p < 0x20 || *p == 0x7f) {
			w += snprintf(out + w, len - w, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			w += snprintf(out + w, len - w, "\\u%04x", p[1]);
			p++;
		} else {
			out[w++] = (char)*p;
		}
	}
	out[w++] = '"';
	out[w] = '\0';
}

static void errtext(char *buf, size_t len, const char *path, int err)
{
	char e[128], q[1024];
	go_quote(q, sizeof(q), path);
	if (snprintf(buf, len, "exec %s: %s", q, ocirun_errtext(err, e, sizeof(e))) >= (int)len)
		buf[len - 1] = '\0'; // a path too long for the message is cut, as intended
}

// go_join writes Go's filepath.Join(dir, name) for a non-empty dir:
// filepath.Clean of dir + "/" + name, the shortest path naming the same file
// lexically (no "." elements, ".." applied to what precedes it, single
// slashes). It reads the two in place (dir, a PATH entry, may be long: only
// the result must fit) and returns -1 when the result does not fit in out.
static int go_join(const char *dir, size_t dlen, const char *name, char *out, size_t size)
{
	size_t n = dlen + 1 + strlen(name), r = 0, w = 0, dotdot = 0;
	int rooted = dir[0] == '/';
#define IN(i) ((i) < dlen ? dir[i] : (i) == dlen ? '/' : (i) < n ? name[(i) - dlen - 1] : '\0')
#define PUT(c) do { if (w + 1 >= size) return -1; out[w++] = (c); } while (0)

	if (rooted) {
		PUT('/');
		r = dotdot = 1;
	}
	while (r < n) {
		if (IN(r) == '/') {
			r++;
		} else if (IN(r) == '.' && (r + 1 == n || IN(r + 1) == '/')) {
			r++;
		} else if (IN(r) == '.' && IN(r + 1) == '.' && (r + 2 == n || IN(r + 2) == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					PUT('/');
				PUT('.');
				PUT('.');
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				PUT('/');
			while (r < n && IN(r) != '/') {
				PUT(IN(r));
				r++;
			}
		}
	}
	if (w == 0)
		PUT('.');
	out[w] = '\0';
	return 0;
#undef IN
#undef PUT
}

// ocirun_execvp runs the process as the Go init's execvp (process.go) does,
// with the same errors: PATH from the process's environment, found only now,
// each entry joined to the name as filepath.Join does (an empty one is ".",
// an empty PATH has none).
void ocirun_execvp(char **args, char **envp, char *msg, size_t len)
{
	const char *name = args[0], *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char file[4096], q[1024];
	int denied = 0;

	if (strchr(name, '/') != NULL) {
		execve(name, args, envp);
		errtext(msg, len, name, errno);
		return;
	}
	for (char **e = envp; *e != NULL; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	for (const char *p = path; *path != '\0'; p++) { // an empty PATH has no entry
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		// No allocation (brk and mmap may be filtered): a path the kernel
		// would refuse as too long does not fit in file either.
		if (go_join(n ? p : ".", n ? n : 1, name, file, sizeof(file)) < 0) {
			snprintf(file, sizeof(file), "%.*s/%s", (int)(n ? n : 1), n ? p : ".", name);
			errno = ENAMETOOLONG;
		} else {
			execve(file, args, envp);
		}
		if (errno == EACCES) {
			denied = 1;
		} else if (errno != ENOENT && errno != ENOTDIR) {
			errtext(msg, len, file, errno);
			return;
		}
		if (end == NULL)
			break;
		p = end;
	}
	go_quote(q, sizeof(q), name);
	if (denied)
		snprintf(msg, len, "exec: %s: permission denied", q);
	else
		snprintf(msg, len, "exec: %s: executable file not found in $PATH", q);
}

// ocirun_wait_start is the wait itself, for the waiter and for a pid 1 the
// parent built (pid1.c): join the memory cgroup, report ready, wait for
// `start` on the exec socket, exec the process. It never returns.
void ocirun_wait_start(int sock, int lfd, int memcg, char **args, char **envp)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE };
	int conn;
	char b, msg[512];

	if (memcg >= 3) {
		if (ocirun_write_full(memcg, "0", 1) < 0) {
			char e[128];
			snprintf(msg, sizeof(msg), "join the memory cgroup: %s", ocirun_errtext(errno, e, sizeof(e)));
			wait_send(sock, WAIT_MSG_ERROR, msg);
			_exit(1);
		}
		close(memcg);
	}
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_signal);
	wait_send(sock, WAIT_MSG_READY, NULL);
	close(sock);

	do
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (conn < 0 && errno == EINTR);
	if (conn < 0)
		_exit(1);
	close(lfd);
	if (read(conn, &b, 1) != 1)
		_exit(1);
	ocirun_execvp(args, envp, msg, sizeof(msg));
	ocirun_write_full(conn, msg, strlen(msg));
	_exit(1);
}

// ocirun_waiter returns when this process is not the waiter; otherwise it
// never returns.
void ocirun_waiter(int argc, char **argv, char **envp)
{
	int sock, lfd, memcg, n = 0;
	char **last;

	if (argc < 3 || strcmp(argv[1], "wait") != 0 || envp == NULL || envp[0] == NULL)
		return;
	for (last = envp; last[1] != NULL; last++)
		;
	if (strncmp(*last, WAIT_ENV, strlen(WAIT_ENV)) != 0)
		return;
	if (sscanf(*last + strlen(WAIT_ENV), "%d,%d,%d%n", &sock, &lfd, &memcg, &n) != 3 || n == 0 || sock < 3 || lfd < 3)
		_exit(1);
	*last = NULL; // the process's environment is the rest
	// The execve into us made us dumpable again: not while we hold the exec
	// socket and the memory cgroup's tasks file (see nsexec.c).
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(1);
	ocirun_wait_start(sock, lfd, memcg, argv + 2, envp);
}
