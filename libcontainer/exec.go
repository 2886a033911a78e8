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
)

// ExecOpts describes a process to start in a running container.
type ExecOpts struct {
	Process               *configs.Process
	Stdin, Stdout, Stderr *os.File
	PreserveFds           int
	ConsoleSocket         *os.File // receives the pty master when Process.Terminal
	IgnorePaused          bool
}

// nsFiles names each namespace type's file under /proc/PID/ns.
var nsFiles = map[string]string{
	"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
	"user": "user", "cgroup": "cgroup", "time": "time",
}

// Exec starts a process inside the container: it joins every namespace of
// the init and its cgroups, gets the process's credentials, and execs. It
// returns the process's host pid once the exec has happened.
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
	bs := &nsenter.Bootstrap{}
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
	ic := initConfig{ID: c.id, Bundle: c.state.Bundle, Pid: pid, Config: &cfg, PreserveFds: opts.PreserveFds,
		ConsoleFd: -1, Exec: true}
	if opts.ConsoleSocket != nil {
		ic.ConsoleFd = fds[1]
	}
	data, err := json.Marshal(&ic)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return 0, err
	}
	if err := nsenter.WriteMsg(parentSock, msgConfig, data); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return 0, fmt.Errorf("send config to exec: %w", err)
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
