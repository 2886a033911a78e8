package libcontainer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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

	cfg := *c.state.Config
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
	cmd, fds, err := startInit(filepath.Dir(c.dir), nil, opts.Stdin, opts.Stdout, opts.Stderr, opts.PreserveFds, files...)
	childSock.Close()
	if err != nil {
		return 0, err
	}
	initPid := c.state.InitPid
	pid, err := bootstrap(cmd, parentSock, bs, func(stage1 int) error {
		if err := joinCgroups(initPid, stage1); err != nil {
			return err
		}
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

// joinCgroups moves pid into every cgroup of the container's init, on each
// v1 hierarchy and the unified one, before it can make a cgroup namespace.
func joinCgroups(initPid, pid int) error {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", initPid))
	if err != nil {
		return fmt.Errorf("read the init's cgroups: %w", err)
	}
	defer f.Close()
	mounts, err := cgroupMountpoints()
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		mp, ok := mounts[parts[1]]
		if !ok {
			continue
		}
		procs := filepath.Join(mp, parts[2], "cgroup.procs")
		if err := os.WriteFile(procs, []byte(fmt.Sprint(pid)), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", procs, err)
		}
	}
	return sc.Err()
}
