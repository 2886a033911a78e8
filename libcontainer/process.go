package libcontainer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/nsenter"
	"github.com/ocirun/ocirun/libcontainer/seccomp"
)

// execProcess is the user's process, ready to exec.
type execProcess struct {
	args     []string
	env      []string
	rlimits  []configs.Rlimit // set at exec: they would bind ocirun's own Go runtime too
	notifyFd int              // the seccomp notify fd for the listener, or -1
}

// exec sets the rlimits and execs. The rlimits come last because they limit
// ocirun's init as much as the process: an RLIMIT_AS below the Go runtime's
// address space (about 1.5 GiB here) made every later allocation fail.
func (p *execProcess) exec() error {
	if err := setRlimits(p.rlimits); err != nil {
		return err
	}
	return execvp(p.args[0], p.args, p.env)
}

// execvp runs the program as execvp(3) finds it, with the container's PATH,
// only now: process.args are not applied before start (runtime-spec
// runtime.md#create), so create does not look for the binary, which a
// startContainer hook may still provide. Nothing is stat'ed first: execve's
// own error says what is missing, whatever the seccomp profile allows.
func execvp(name string, args, env []string) error {
	if strings.Contains(name, "/") {
		return fmt.Errorf("exec %q: %w", name, unix.Exec(name, args, env))
	}
	denied := false
	for _, dir := range filepath.SplitList(pathEnv(env)) {
		if dir == "" {
			dir = "."
		}
		err := unix.Exec(filepath.Join(dir, name), args, env)
		switch {
		case errors.Is(err, unix.EACCES):
			denied = true
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		default:
			return fmt.Errorf("exec %q: %w", filepath.Join(dir, name), err)
		}
	}
	if denied {
		return fmt.Errorf("exec: %q: permission denied", name)
	}
	return fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

func pathEnv(env []string) string {
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[5:]
		}
	}
	return path
}

// prepareProcess sets every process attribute that survives exec and drops
// the init's privileges to the process's, so the waiting init holds no more
// than the process will.
func prepareProcess(cfg *configs.Config, preserveFds int, execNext bool) (*execProcess, error) {
	p := cfg.Process
	// No signal blocked, whatever our caller had blocked: Go unblocked on
	// this thread only those its runtime needs. Before the filter, which
	// need not allow the call.
	unix.PthreadSigmask(unix.SIG_SETMASK, &unix.Sigset_t{}, nil)
	// Raising a hard limit needs CAP_SYS_RESOURCE, which the process may not
	// keep: raise now, set the exact limits at exec.
	if err := raiseHardRlimits(p.Rlimits); err != nil {
		return nil, err
	}
	if cfg.Personality != nil {
		if err := setPersonality(cfg.Personality.Domain); err != nil {
			return nil, err
		}
	}
	if p.Scheduler != nil {
		if err := setScheduler(p.Scheduler); err != nil {
			return nil, err
		}
	}
	if p.IOPriority != nil {
		if err := setIOPriority(p.IOPriority); err != nil {
			return nil, err
		}
	}
	env := withHome(p.Env, p.UID)
	if err := enterCwd(p.Cwd); err != nil {
		return nil, err
	}
	if err := closeExtraFds(preserveFds); err != nil {
		return nil, err
	}
	// The profile applies at the exec; the write needs our privileges, so it comes first.
	if err := applyAppArmor(p.ApparmorProfile); err != nil {
		return nil, err
	}
	proc := &execProcess{args: p.Args, env: env, rlimits: p.Rlimits, notifyFd: -1}
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
	// once the ids are switched (the switch then never runs under the
	// filter: musl's signals every thread with tkill and rt_sigaction), with
	// the capabilities kept across it, before the process's own apply. With
	// no_new_privs, load it as late as we can.
	var loadAsUser func() error
	if !p.NoNewPrivileges {
		loadAsUser = func() error { return proc.loadSeccomp(cfg.Seccomp) }
	}
	if err := dropPrivileges(p, execNext, loadAsUser); err != nil {
		return nil, err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("set no_new_privs: %w", err)
		}
		if err := proc.loadSeccomp(cfg.Seccomp); err != nil {
			return nil, err
		}
	}
	return proc, nil
}

func (p *execProcess) loadSeccomp(c *configs.Seccomp) error {
	if c == nil {
		return nil
	}
	fd, err := seccomp.Load(c)
	if err != nil {
		return err
	}
	p.notifyFd = fd
	return nil
}

// raiseHardRlimits raises the hard limits the config puts above ours, soft
// limits unchanged, so that setRlimits can later run without privileges.
func raiseHardRlimits(rl []configs.Rlimit) error {
	for _, r := range rl {
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(r.Type, &cur); err != nil {
			return fmt.Errorf("get rlimit %d: %w", r.Type, err)
		}
		if r.Hard <= cur.Max {
			continue
		}
		if r.Type == unix.RLIMIT_NOFILE {
			// Go raised its own soft limit at start-up: keep, and name in an
			// error, the one the init was started with, as pid 1's C does.
			if orig, ok := nsenter.OrigNofile(); ok {
				cur.Cur = orig.Cur
			}
		}
		if err := setRlimit(r.Type, cur.Cur, r.Hard); err != nil {
			return err
		}
	}
	return nil
}

func setRlimits(rl []configs.Rlimit) error {
	for _, r := range rl {
		if err := setRlimit(r.Type, r.Soft, r.Hard); err != nil {
			return err
		}
	}
	return nil
}

// setRlimit goes through syscall.Setrlimit so Go forgets the RLIMIT_NOFILE
// it raised at start-up instead of restoring it at exec.
func setRlimit(typ int, soft, hard uint64) error {
	if err := syscall.Setrlimit(typ, &syscall.Rlimit{Cur: soft, Max: hard}); err != nil {
		return fmt.Errorf("set rlimit %d (soft %d, hard %d): %w", typ, soft, hard, err)
	}
	return nil
}

func setPersonality(domain uint64) error {
	if _, _, errno := unix.Syscall(unix.SYS_PERSONALITY, uintptr(domain), 0, 0); errno != 0 {
		return fmt.Errorf("set personality 0x%x: %w", domain, errno)
	}
	return nil
}

func setScheduler(s *configs.Scheduler) error {
	attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: s.Policy, Flags: s.Flags, Nice: s.Nice,
		Priority: s.Priority, Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period}
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		return fmt.Errorf("set process.scheduler: %w", err)
	}
	return nil
}

// setIOPriority calls ioprio_set(IOPRIO_WHO_PROCESS, 0, class<<13 | level).
func setIOPriority(p *configs.IOPriority) error {
	const ioprioWhoProcess = 1
	prio := uintptr(p.Class<<13 | p.Priority)
	if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, prio); errno != 0 {
		return fmt.Errorf("set process.ioPriority: %w", errno)
	}
	return nil
}

// withHome adds HOME from the container's /etc/passwd (or "/") when env has none, as runc does.
func withHome(env []string, uid uint32) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			return env
		}
	}
	home := "/"
	if f, err := os.Open("/etc/passwd"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ":")
			if len(fields) >= 6 && fields[2] == strconv.Itoa(int(uid)) && fields[5] != "" {
				home = fields[5]
				break
			}
		}
		f.Close()
	}
	return append(append([]string{}, env...), "HOME="+home)
}

// enterCwd changes to process.cwd and checks it is inside the container's
// root (CVE-2024-21626: a leaked host fd as cwd would be "(unreachable)").
func enterCwd(cwd string) error {
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("chdir to process.cwd %q: %w", cwd, err)
	}
	wd, err := unix.Getwd()
	if errors.Is(err, unix.ENOENT) || (err == nil && !strings.HasPrefix(wd, "/")) {
		// The kernel cannot name a cwd outside our root: it is unreachable.
		return fmt.Errorf("process.cwd %q is outside the container's root", cwd)
	}
	if err != nil {
		return fmt.Errorf("getcwd after chdir to %q: %w", cwd, err)
	}
	if !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("process.cwd %q is outside the container's root", cwd)
	}
	return nil
}

// closeExtraFds marks every fd above the preserved ones close-on-exec, so
// nothing ocirun (or its caller) had open reaches the container (CVE-2024-21626).
func closeExtraFds(preserveFds int) error {
	// close_range needs no /proc in the container; older kernels fall back to listing fds.
	if err := unix.CloseRange(uint(3+preserveFds), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("mark fds close-on-exec: %w", err)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3+preserveFds {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}
