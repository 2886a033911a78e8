package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/nsenter"
)

// hookError marks a createContainer hook failure, after which the parent runs the poststop hooks.
type hookError struct{ err error }

func (e hookError) Error() string { return e.err.Error() }

// Init is `ocirun init`: the container's first process, already inside its
// namespaces (the C constructor put it there). It builds the container from
// the inside, reports ready, waits for `start` and execs the user's process.
// It returns only on failure, after telling the parent why.
func Init() {
	// Credentials and capabilities are per thread: do all of it on one.
	runtime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv(nsenter.EnvInitPipe))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocirun init: not started by ocirun")
		os.Exit(255)
	}
	os.Clearenv() // the container's environment is set at exec, nothing of ours leaks into it
	sock := os.NewFile(uintptr(fd), "init-sock")
	unix.CloseOnExec(fd)
	err = initContainer(sock)
	msgType := uint32(nsenter.MsgError)
	var he hookError
	if errors.As(err, &he) {
		msgType = msgHookError
	}
	nsenter.WriteMsg(sock, msgType, []byte(err.Error()))
	os.Exit(1)
}

// initContainer is the create path inside the container, step by step.
func initContainer(sock *os.File) error {
	t, payload, err := nsenter.ReadMsg(sock)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if t != msgConfig {
		return fmt.Errorf("expected config message, got %d", t)
	}
	var ic initConfig
	if err := json.Unmarshal(payload, &ic); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	cfg := ic.Config
	// Nothing the parent passed reaches a hook or the container: the
	// memory cgroup's tasks file least of all.
	for _, fd := range []int{ic.ExecListenFd, ic.MemcgFd, ic.ExeFd} {
		if fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
	if err := newSession(); err != nil {
		return err
	}
	if ic.Exec {
		return execInit(sock, &ic)
	}
	unix.Umask(0) // device nodes and mount targets get exactly the modes asked for

	if err := prepareRootfs(cfg, nil); err != nil {
		return err
	}
	if len(cfg.Hooks.Prestart)+len(cfg.Hooks.CreateRuntime) > 0 {
		if err := awaitRuntimeHooks(sock); err != nil {
			return err
		}
	}
	state := OCIState{OCIVersion: cfg.OCIVersion, ID: ic.ID, Status: Created, Pid: ic.Pid,
		Bundle: ic.Bundle, Annotations: cfg.Annotations}
	if err := runHooks("createContainer", cfg.Hooks.CreateContainer, state); err != nil {
		return hookError{err}
	}
	if err := enterRootfs(cfg, ic.NoPivot); err != nil {
		return err
	}
	if err := setupUTS(cfg); err != nil {
		return err
	}
	if err := writeSysctls(cfg.Sysctl); err != nil {
		return err
	}
	if err := finalizeRootfs(cfg); err != nil {
		return err
	}
	if cfg.Process.Terminal {
		if err := setupConsole(ic.ConsoleFd, cfg.Process, true); err != nil {
			return err
		}
	}
	if !ic.NoNewKeyring {
		if err := joinSessionKeyring(ic.ID); err != nil {
			return err
		}
	}
	var proc *execProcess
	waiter := useWaiter(cfg, &ic) && waiterExecutable(ic.ExeFd, cfg.Process)
	if !cfg.NoProcess {
		if proc, err = prepareProcess(cfg, ic.PreserveFds, waiter); err != nil {
			return err
		}
		if err := sendNotifyFd(sock, proc); err != nil {
			return err
		}
	}
	if waiter {
		// Only this thread has the process's credentials (switchUser): an
		// init whose exec failed must not go on to wait for start.
		return fmt.Errorf("exec the waiter: %w", execWaiter(&ic, proc, int(sock.Fd())))
	}
	if err := joinMemcg(ic.MemcgFd); err != nil {
		return err
	}
	if err := nsenter.WriteMsg(sock, msgReady, nil); err != nil {
		return fmt.Errorf("report ready: %w", err)
	}
	sock.Close()
	waitStartAndExec(ic.ExecListenFd, proc, cfg, state)
	return nil // not reached: waitStartAndExec exits on failure
}

// newSession makes the process the leader of a session of its own, with or
// without a terminal, as runc does: the container's processes then keep
// nothing of the caller's session (its job control, its terminal's signals),
// and CRIU can dump the tree, whose session leader must be inside it.
func newSession() error {
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	return nil
}

// execInit is the init of `ocirun exec`: the constructor joined the
// container's namespaces; what is left is the process itself.
func execInit(sock *os.File, ic *initConfig) error {
	p := ic.Config.Process
	if !ic.Config.Has("mount") {
		// The runtime's mount namespace is the container's: only the root
		// differs, and Exec named the init's as ours.
		if err := chrootRootfs(ic.Config.Rootfs); err != nil {
			return err
		}
	}
	if p.Terminal {
		if err := setupConsole(ic.ConsoleFd, p, false); err != nil {
			return err
		}
	}
	unix.Umask(0o022)
	if p.Umask != nil {
		unix.Umask(int(*p.Umask))
	}
	proc, err := prepareProcess(ic.Config, ic.PreserveFds, true)
	if err != nil {
		return err
	}
	if err := sendNotifyFd(sock, proc); err != nil {
		return err
	}
	return proc.exec()
}

// sendNotifyFd gives the seccomp notify fd to the parent, which passes it to
// the listener; the container keeps no copy.
func sendNotifyFd(sock *os.File, proc *execProcess) error {
	if proc.notifyFd < 0 {
		return nil
	}
	defer unix.Close(proc.notifyFd)
	if err := writeMsgFd(sock, msgSeccompFd, nil, proc.notifyFd); err != nil {
		return fmt.Errorf("send seccomp notify fd: %w", err)
	}
	return nil
}

// joinMemcg moves this thread into the container's memory cgroup, set up
// and waiting for start: only the pages faulted from now on (the user's
// process, after exec from this same thread) are charged to the container.
// Writing "0" to a v1 tasks file moves the writer alone, without the global
// lock a pid in cgroup.procs takes.
func joinMemcg(fd int) error {
	if fd <= 2 {
		return nil
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("0")); err != nil {
		return fmt.Errorf("join the memory cgroup: %w", err)
	}
	return nil
}

// awaitRuntimeHooks lets the parent run prestart and createRuntime hooks
// in the runtime's namespace while the init's mounts are in place.
func awaitRuntimeHooks(sock *os.File) error {
	if err := nsenter.WriteMsg(sock, msgHooks, nil); err != nil {
		return fmt.Errorf("ask parent for runtime hooks: %w", err)
	}
	t, payload, err := nsenter.ReadMsg(sock)
	if err != nil {
		return fmt.Errorf("wait for runtime hooks: %w", err)
	}
	if t != msgHooksDone {
		return fmt.Errorf("runtime hooks: unexpected message %d: %s", t, payload)
	}
	return nil
}

// waitStartAndExec blocks until `start` connects, then runs the
// startContainer hooks and execs. Failures go back to `start` on the connection.
func waitStartAndExec(listenFd int, proc *execProcess, cfg *configs.Config, state OCIState) {
	var connFd int
	var err error
	for {
		connFd, _, err = unix.Accept4(listenFd, unix.SOCK_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		os.Exit(1)
	}
	unix.Close(listenFd)
	conn := os.NewFile(uintptr(connFd), "start-conn")
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		os.Exit(1)
	}
	if proc == nil {
		conn.Write([]byte("process: required when start is called"))
		os.Exit(1)
	}
	state.Status = Running
	err = runHooks("startContainer", cfg.Hooks.StartContainer, state)
	if err == nil {
		err = proc.exec()
	}
	conn.Write([]byte(err.Error()))
	os.Exit(1)
}
