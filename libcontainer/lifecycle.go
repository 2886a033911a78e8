package libcontainer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Start releases a created container's init to exec the user's process and
// runs the poststart hooks. It returns once the exec has happened or failed.
func (c *Container) Start() error {
	switch st := c.Status(); st {
	case Created:
	case Stopped:
		return errors.New("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start an already %s container", st)
	}
	// Refused before the init is woken: an error leaves the container as it
	// was (runtime-spec runtime.md, Errors), created, for delete --force.
	if c.state.NoProcess {
		return errors.New("process: required when start is called")
	}
	conn, err := dialExecSocket(c.lock, c.dir)
	if err != nil {
		return fmt.Errorf("start container %s: %w", c.id, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{0}); err != nil {
		return fmt.Errorf("start container %s: %w", c.id, err)
	}
	// EOF means the exec closed the connection; anything else is the init's
	// error. A reset connection is an init that exited before it took ours.
	msg, err := io.ReadAll(conn)
	os.Remove(filepath.Join(c.dir, execSockFile))
	if len(msg) > 0 {
		return fmt.Errorf("%s", msg)
	}
	if err != nil {
		return fmt.Errorf("start container %s: the init exited before it started the process: %w", c.id, err)
	}
	runWarnHooks("poststart", c.state.Hooks.Poststart, c.ociState(Running))
	return nil
}

// ErrNotRunning is what signalling a stopped container returns; containerd matches its words.
var ErrNotRunning = errors.New("container not running")

// Signal sends sig to the init, or with all to every process of the container.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	pidfd, err := c.openInit()
	if err != nil {
		return ErrNotRunning
	}
	defer unix.Close(pidfd)
	if all {
		if m, err := c.cgroup(); err == nil {
			return m.KillAll(sig)
		}
		return c.signalAll(sig)
	}
	if err := unix.PidfdSendSignal(pidfd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("signal container %s: %w", c.id, err)
	}
	return nil
}

// InitPidfd returns a pidfd for the init, checked against its recorded
// start time (see openInit); the caller closes it.
func (c *Container) InitPidfd() (int, error) { return c.openInit() }

// openInit returns a pidfd for the init, checked against the recorded start
// time after opening, so it cannot name a process that reused the pid.
func (c *Container) openInit() (int, error) {
	if c.state.InitPid <= 0 {
		return -1, ErrNotRunning
	}
	fd, err := unix.PidfdOpen(c.state.InitPid, 0)
	if err != nil {
		return -1, err
	}
	if !c.initAlive() {
		unix.Close(fd)
		return -1, ErrNotRunning
	}
	return fd, nil
}

// signalAll signals every process in the init's pid namespace (the init's own
// when it shares the host's). A later cgroup manager does this by cgroup.
func (c *Container) signalAll(sig unix.Signal) error {
	initNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", c.state.InitPid))
	if err != nil {
		return ErrNotRunning
	}
	hostNS, _ := os.Readlink("/proc/self/ns/pid")
	if initNS == hostNS {
		return unix.Kill(c.state.InitPid, sig)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && ns == initNS {
			unix.Kill(pid, sig)
		}
	}
	return nil
}

// Destroy removes a stopped container: poststop hooks, then its state. With
// force a container that is not stopped is killed first.
func (c *Container) Destroy(force bool) error {
	if st := c.Status(); st != Stopped {
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.id, st)
		}
		if err := c.kill(); err != nil {
			return err
		}
	}
	// Processes left in the cgroup (a shared pid namespace) go with the container.
	if m, err := c.cgroup(); err == nil && m.Exists() {
		if pids, _ := m.Pids(); len(pids) > 0 {
			m.KillAll(unix.SIGKILL)
		}
	}
	if err := c.removeCgroup(); err != nil {
		return err
	}
	if err := c.releaseSharedRootfs(); err != nil {
		return err
	}
	runPoststopHooks(c.state.Hooks.Poststop, c.ociState(Stopped))
	if err := removeStateDir(c.dir); err != nil {
		return err
	}
	c.Close()
	return nil
}

// kill sends SIGKILL to everything in the container and waits for the init
// to exit (a pidfd turns readable then, child of ours or not).
func (c *Container) kill() error {
	pidfd, err := c.openInit()
	if err != nil {
		return nil // already gone
	}
	defer unix.Close(pidfd)
	if m, err := c.cgroup(); err == nil {
		m.KillAll(unix.SIGKILL)
		m.Thaw() // a frozen process dies only once thawed (v1 freezer)
	} else {
		c.signalAll(unix.SIGKILL)
	}
	unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for container %s to die: %w", c.id, err)
		}
		if n > 0 {
			return nil
		}
	}
	return fmt.Errorf("container %s did not die after SIGKILL", c.id)
}
