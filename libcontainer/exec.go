package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/nsenter"
	"github.com/ocirun/ocirun/libcontainer/seccomp"
)

// ExecOpts describes a process to start in a running container.
type ExecOpts struct {
	Process               *configs.Process
	Stdin, Stdout, Stderr *os.File
	PreserveFds           int
	ConsoleSocket         *os.File // receives the pty master when Process.Terminal
	IgnorePaused          bool
	GoInit                bool // always a Go init, never the plan applied in C (plan.go)
	// BeforeStart, when set, is called just before the process is started:
	// the command waits there until it catches every signal it relays.
	BeforeStart func()
}

// execSyscalls are those the process of an exec makes under its filter
// when C applies its plan: without no_new_privs the filter is loaded
// before the capabilities (capset, prctl) and the rlimits (prlimit64);
// then execve, and a failure's report (write, exit_group).
var execSyscalls = []string{"capset", "prctl", "prlimit64", "write", "execve", "exit_group"}

// nsFiles names each namespace type's file under /proc/PID/ns.
var nsFiles = map[string]string{
	"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
	"user": "user", "cgroup": "cgroup", "time": "time",
}

// Exec starts a process inside the container: it joins every namespace of
// the init and its cgroups, gets the process's credentials, and execs. It
// returns the process's host pid once the exec has happened. The C
// constructor joins the container; where it can, it also applies the
// process's plan (plan.go) and execs, and no Go runtime starts in the
// container; else a Go init does that part (init.go execInit).
func (c *Container) Exec(opts ExecOpts) (int, error) {
	switch c.Status() {
	case Stopped:
		return 0, errors.New("cannot exec in a stopped container")
	case Paused:
		if !opts.IgnorePaused {
			return 0, errors.New("cannot exec in a paused container (use --ignore-paused to override)")
		}
	}
	// Hold the init with a pidfd while we join it, so its pid cannot be reused under us.
	pidfd, err := c.openInit()
	if err != nil {
		return 0, errors.New("cannot exec in a stopped container")
	}
	defer unix.Close(pidfd)

	saved, err := c.state.Config()
	if err != nil {
		return 0, err
	}
	cfg := *saved
	cfg.Process = opts.Process
	dropUngrantable(opts.Process.Capabilities)
	if !cfg.Has("mount") {
		// The process shares our mount namespace: it enters the init's root, which execInit chroots to.
		cfg.Rootfs = fmt.Sprintf("/proc/%d/root", c.state.InitPid)
	}
	// C applies the plan when the process gets the container's mount
	// namespace (with ours, the Go init first chroots to the init's root)
	// and nothing needs the Go init (planApplies).
	inC := !opts.GoInit && opts.ConsoleSocket == nil && cfg.Has("mount") && planApplies(&cfg, execSyscalls)
	var filter <-chan compiledFilter
	if inC && cfg.Seccomp != nil {
		filter = compileFilter(cfg.Seccomp) // while the process starts
	}
	bs := &nsenter.Bootstrap{ExecPlan: inC}
	for _, ns := range cfg.Namespaces {
		bs.Join = append(bs.Join, nsenter.NsPath{Flag: cloneFlags[ns.Type],
			Path: fmt.Sprintf("/proc/%d/ns/%s", c.state.InitPid, nsFiles[ns.Type])})
	}
	parentSock, childSock, err := socketPair()
	if err != nil {
		return 0, err
	}
	defer parentSock.Close()
	files := []*os.File{childSock}
	if opts.ConsoleSocket != nil {
		files = append(files, opts.ConsoleSocket)
	}
	tasks, cgroupDir, err := c.execCgroups()
	if err != nil {
		childSock.Close()
		return 0, err
	}
	if cgroupDir != nil {
		defer cgroupDir.Close()
	}
	bs.CgroupTasks = tasks
	if opts.BeforeStart != nil {
		opts.BeforeStart()
	}
	stage1, fds, err := startInit(filepath.Dir(c.dir), cgroupDir, opts.Stdin, opts.Stdout, opts.Stderr, opts.PreserveFds, goInit(), files...)
	childSock.Close()
	if err != nil {
		return 0, err
	}
	pid, err := bootstrap(stage1, parentSock, bs, func(stage1 int) error {
		return setupFromHost(stage1, &configs.Config{Process: opts.Process})
	})
	if err != nil {
		return 0, err
	}
	if inC {
		err = sendPlan(parentSock, opts, filter)
	} else {
		err = sendExecConfig(parentSock, &initConfig{ID: c.id, Bundle: c.state.Bundle, Pid: pid, Config: &cfg,
			PreserveFds: opts.PreserveFds, ConsoleFd: consoleFd(opts, fds), Exec: true})
	}
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return 0, err
	}
	// The socket is close-on-exec: EOF means the process is running.
	for {
		t, payload, fd, err := readMsgFd(parentSock)
		if err == io.EOF {
			return pid, nil
		}
		if err != nil {
			return 0, fmt.Errorf("exec: %w", err)
		}
		switch t {
		case msgSeccompFd:
			err := sendToListener(cfg.Seccomp, fd, c.ociState(Running), pid)
			unix.Close(fd)
			if err != nil {
				unix.Kill(pid, unix.SIGKILL)
				return 0, err
			}
		case nsenter.MsgError:
			return 0, fmt.Errorf("%s", payload)
		default:
			return 0, fmt.Errorf("exec: unexpected message %d", t)
		}
	}
}

// consoleFd is where the console socket landed in the process, or -1.
func consoleFd(opts ExecOpts, fds []int) int {
	if opts.ConsoleSocket == nil {
		return -1
	}
	return fds[1]
}

// sendExecConfig gives a Go init its config.
func sendExecConfig(sock *os.File, ic *initConfig) error {
	data, err := json.Marshal(ic)
	if err != nil {
		return err
	}
	if err := nsenter.WriteMsg(sock, msgConfig, data); err != nil {
		return fmt.Errorf("send config to exec: %w", err)
	}
	return nil
}

// compiledFilter is a seccomp filter compiled to BPF, or why it could not be.
type compiledFilter struct {
	bpf   []byte
	flags uint32
	err   error
}

// compileFilter compiles the filter in the background.
func compileFilter(s *configs.Seccomp) <-chan compiledFilter {
	ch := make(chan compiledFilter, 1)
	go func() {
		var f compiledFilter
		f.bpf, f.flags, f.err = seccomp.Export(s)
		ch <- f
	}()
	return ch
}

// sendPlan gives the process its plan, which the constructor applies in C
// (nsenter/plan.c). HOME, where the environment has none, comes from the
// container's /etc/passwd, read there.
func sendPlan(sock *os.File, opts ExecOpts, filter <-chan compiledFilter) error {
	pl := processPlan{proc: opts.Process, env: opts.Process.Env, home: true, preserve: opts.PreserveFds}
	if filter != nil {
		f := <-filter
		if f.err != nil {
			return f.err
		}
		pl.bpf, pl.sflags = f.bpf, f.flags
	}
	plan, err := pl.encode()
	if err != nil {
		return err
	}
	if err := nsenter.WriteMsg(sock, msgPid1Plan, plan); err != nil {
		return fmt.Errorf("send the process to exec: %w", err)
	}
	return nil
}

// execCgroups names the container's cgroups for a new process: the `tasks`
// file in each v1 hierarchy, which its first stage joins itself, and its
// cgroup2 directory, opened for clone3's CLONE_INTO_CGROUP. Both happen
// before the process can make a cgroup namespace. They come from the
// container's state, not from the init's /proc/PID/cgroup: the init may
// join the memory cgroup only at its very end (see create.go).
func (c *Container) execCgroups() ([]string, *os.File, error) {
	m, err := c.cgroup()
	if err != nil {
		return nil, nil, nil // a container without a cgroup of its own
	}
	var dir *os.File
	if m.HasV2() {
		if dir, err = m.OpenV2Dir(); err != nil {
			return nil, nil, fmt.Errorf("open the container's cgroup: %w", err)
		}
	}
	return m.V1Tasks(), dir, nil
}
