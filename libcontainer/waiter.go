package libcontainer

import (
	"fmt"
	"slices"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/nsenter"
)

// A created container's init waits for `start` as a small C program (the
// constructor's waiter branch, nsenter/waiter.c), not as a Go runtime: the Go
// init re-executes our sealed binary once everything is set up. The waiter
// joins the memory cgroup, reports ready, waits on the exec socket and execs
// the process. Where it could change what the process gets, the Go init
// waits itself, as before (useWaiter).

// waiterSyscalls are the syscalls the waiter makes under the container's
// seccomp filter: the exec into it, a static C library's start-up (glibc's;
// musl's is a subset, plus rt_sigprocmask at its first sigaction), its own
// work (prctl: not dumpable).
var waiterSyscalls = []string{
	"execveat", "brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64",
	"mprotect", "readlink", "getrandom", "prctl", "write", "close", "rt_sigaction", "rt_sigprocmask",
	"accept4", "read", "execve", "exit_group",
}

// useWaiter tells whether the init may hand over to the waiter: ocirun is a
// static binary (a dynamic one would run the container's ld.so), there is a
// process, no startContainer hook (they run from the Go init), no AppArmor
// profile (it applies at the next exec: that would be the waiter's), only
// rlimits that cannot bind the Go init (they are set before the exec into the
// waiter, and Go still allocates and may report that exec's error under
// them), and a seccomp filter, if any, that allows every syscall the waiter
// makes.
func useWaiter(cfg *configs.Config, ic *initConfig) bool {
	return ic.ExeFd > 2 && nsenter.Static() && !cfg.NoProcess && len(cfg.Hooks.StartContainer) == 0 &&
		cfg.Process.ApparmorProfile == "" && rlimitsHarmlessToGo(cfg.Process.Rlimits) &&
		seccompAllowsAll(cfg.Seccomp, waiterSyscalls)
}

// rlimitsHarmlessToGo: none of these bounds a Go runtime's memory, stack,
// threads or CPU time.
func rlimitsHarmlessToGo(rl []configs.Rlimit) bool {
	for _, r := range rl {
		switch r.Type {
		case unix.RLIMIT_NOFILE, unix.RLIMIT_CORE, unix.RLIMIT_NICE, unix.RLIMIT_RTPRIO, unix.RLIMIT_RTTIME,
			unix.RLIMIT_SIGPENDING, unix.RLIMIT_MSGQUEUE, unix.RLIMIT_LOCKS, unix.RLIMIT_FSIZE, unix.RLIMIT_MEMLOCK:
		default:
			return false
		}
	}
	return true
}

// seccompAllowsAll reports whether the filter surely allows each syscall:
// an unconditional allow (or log) rule names it, or no rule names it and the
// default action allows it.
func seccompAllowsAll(s *configs.Seccomp, names []string) bool {
	if s == nil {
		return true
	}
	allows := func(action string) bool { return action == "SCMP_ACT_ALLOW" || action == "SCMP_ACT_LOG" }
	for _, name := range names {
		ruled, ok := false, allows(s.DefaultAction)
		for _, r := range s.Syscalls {
			for _, n := range r.Names {
				if n == name {
					if !ruled {
						ok = true
					}
					ruled = true
					ok = ok && allows(r.Action) && len(r.Args) == 0
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// waiterExecutable: the process's user may execute the sealed binary (its
// credentials are in place when the init execs it), by the permission class
// the kernel picks: owner, else group (its gid or an additional one), else
// others. So the exec does not fail for want of permission (an ocirun
// installed 0700 or 0750); capabilities are not counted on.
func waiterExecutable(fd int, p *configs.Process) bool {
	var st unix.Stat_t
	if fd <= 2 || p == nil || unix.Fstat(fd, &st) != nil {
		return false
	}
	switch {
	case st.Uid == p.UID:
		return st.Mode&0o100 != 0
	case st.Gid == p.GID || slices.Contains(p.AdditionalGids, st.Gid):
		return st.Mode&0o010 != 0
	}
	return st.Mode&0o001 != 0
}

// execWaiter re-executes the sealed binary as the waiter. It returns only
// when the exec failed.
func execWaiter(ic *initConfig, proc *execProcess, sockFd int) error {
	memcg := -1
	if ic.MemcgFd > 2 {
		memcg = ic.MemcgFd
	}
	keep := []int{sockFd, ic.ExecListenFd, memcg}
	for _, fd := range keep {
		if fd > 2 {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
				return err
			}
		}
	}
	defer func() {
		for _, fd := range keep {
			if fd > 2 {
				unix.CloseOnExec(fd)
			}
		}
	}()
	argv := append([]string{"ocirun", "wait"}, proc.args...)
	env := append(proc.env[:len(proc.env):len(proc.env)], fmt.Sprintf("_OCIRUN_WAIT=%d,%d,%d", sockFd, ic.ExecListenFd, memcg))
	// What Go's own exec does: give back the RLIMIT_NOFILE the runtime raised
	// (unless the config set it, which made Go forget the original).
	if lim, ok := nsenter.OrigNofile(); ok && !setsNofile(proc.rlimits) {
		if err := syscall.Setrlimit(unix.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim.Cur, Max: lim.Max}); err != nil {
			return err
		}
	}
	// The process's rlimits, set at exec by the Go init, are set now (useWaiter
	// checked they cannot bind the Go runtime in the few steps left).
	if err := setRlimits(proc.rlimits); err != nil {
		return err
	}
	return execveat(ic.ExeFd, argv, env)
}

func setsNofile(rl []configs.Rlimit) bool {
	for _, r := range rl {
		if r.Type == unix.RLIMIT_NOFILE {
			return true
		}
	}
	return false
}

// execveat runs the file open at fd (AT_EMPTY_PATH): no path, so no /proc is
// needed inside the container.
func execveat(fd int, argv, env []string) error {
	empty, err := unix.BytePtrFromString("")
	if err != nil {
		return err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return errno
}
