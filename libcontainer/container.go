// Package libcontainer is ocirun's engine: it makes, starts, signals and
// removes containers described by a configs.Config, and keeps their state on
// disk under a root directory, one locked directory per container.
//
// Reading order for the create path: container.go (this file: ids, locks,
// state), create.go (the parent's side), then init.go (the container's side),
// which calls rootfs.go, devices.go, console.go, and finalize.go in turn.
package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/cgroups"
)

// Container is a handle on one container's state directory, held under its lock.
type Container struct {
	id    string
	dir   string // <root>/<id>
	lock  *os.File
	state *State
	cg    *cgroups.Manager // the cgroup's manager, once read (cgroup())
}

// validIDChar is what an id may hold: [\w+\-.] (no regexp: it would be
// compiled at every ocirun start, the container's init included).
func validIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '+' || c == '-' || c == '.'
}

// ValidateID refuses ids that could escape the root directory or confuse tools.
func ValidateID(id string) error {
	valid := id != "" && id != "." && id != ".." && len(id) <= 1024
	for i := 0; valid && i < len(id); i++ {
		valid = validIDChar(id[i])
	}
	if !valid {
		return fmt.Errorf("invalid container id %q: use letters, digits, '_', '+', '-' and '.'", id)
	}
	return nil
}

// lockDir opens a state directory and takes its exclusive lock. Every command
// that reads or changes one container's state holds it; other ids never wait.
func lockDir(dir string) (*os.File, error) {
	return flockDir(dir, unix.LOCK_EX)
}

// flockDir opens a directory and takes a lock of it (how: flock(2)'s).
func flockDir(dir string, how int) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

// Load opens an existing container and locks it. Close releases the lock.
func Load(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	lock, err := lockDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("container %s %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("load container %s: %w", id, err)
	}
	st, err := loadState(dir)
	if err != nil {
		lock.Close()
		if errors.Is(err, ErrNotExist) {
			return nil, fmt.Errorf("container %s %w", id, ErrNotExist)
		}
		return nil, err
	}
	return &Container{id: id, dir: dir, lock: lock, state: st}, nil
}

// List returns the ids of every container under root.
func List(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Close releases the container's lock and its cgroup manager's fd.
func (c *Container) Close() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
	if c.cg != nil {
		c.cg.Close()
		c.cg = nil
	}
}

// ID returns the container's id.
func (c *Container) ID() string { return c.id }

// State returns the container's saved state.
func (c *Container) State() *State { return c.state }

// initAlive reports whether the container's init is the process we started:
// alive, not a zombie, and with the start time we recorded (pids get reused).
func (c *Container) initAlive() bool {
	if c.state.InitPid <= 0 {
		return false
	}
	st, err := readProcStat(c.state.InitPid)
	if err != nil {
		return false
	}
	return st.State != 'Z' && st.State != 'X' && st.StartTime == c.state.InitStartTime
}

// Status computes the current status from the init process and the exec socket.
func (c *Container) Status() Status {
	if !c.initAlive() {
		return Stopped
	}
	if c.state.Creating {
		return Creating
	}
	if m, err := c.cgroup(); err == nil && m.Frozen() {
		return Paused
	}
	if _, err := os.Lstat(filepath.Join(c.dir, execSockFile)); err == nil {
		return Created
	}
	return Running
}

// OCIState returns the runtime-spec state of the container.
func (c *Container) OCIState() OCIState {
	status := c.Status()
	return c.ociState(status)
}

func (c *Container) ociState(status Status) OCIState {
	s := OCIState{
		OCIVersion:  c.state.OCIVersion,
		ID:          c.id,
		Status:      status,
		Bundle:      c.state.Bundle,
		Rootfs:      c.state.Rootfs,
		Created:     c.state.Created,
		Owner:       c.state.Owner,
		Annotations: c.state.Annotations,
	}
	if status != Stopped {
		s.Pid = c.state.InitPid
	}
	return s
}

// Read loads a container's state without taking its lock, for `state` and
// `list`: state.json changes only by rename, so a reader sees a whole one,
// and a hook that asks for the state while `create` holds the lock does not
// deadlock.
func Read(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	st, err := loadState(dir)
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			return nil, fmt.Errorf("container %s %w", id, ErrNotExist)
		}
		return nil, err
	}
	return &Container{id: id, dir: dir, state: st}, nil
}

// RemoveStale removes the state directory and the cgroup of a container
// whose create died before it wrote any state, so `delete --force` can
// always clean up. A directory whose lock is held is not stale: a create
// holds it from just after its mkdir (newStateDir), and for that moment
// between the two it holds the state root's lock shared, which this waits
// out by taking it exclusively.
func RemoveStale(root, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	rootLock, err := flockDir(root, unix.LOCK_EX)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	defer rootLock.Close()
	dir := filepath.Join(root, id)
	lock, err := flockDir(dir, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("container %s is being created or used: not removing it as stale", id)
		}
		return err
	}
	defer lock.Close()
	// Ours now: a create of this id fails at its mkdir. Other creates need
	// not wait while the cgroup is emptied (up to a second or two).
	rootLock.Close()
	if _, err := loadState(dir); !errors.Is(err, ErrNotExist) {
		return fmt.Errorf("container %s has state; not removing it as stale", id)
	}
	removeStaleCgroup(dir, id)
	return removeStateDir(dir)
}

// removeStateDir removes a state directory, which holds only files and
// empty directories. It never recurses: a restore that died leaves the
// rootfs bound inside (criu-root), and a recursive removal would go through
// the bind into the rootfs. The bind is detached first; anything else that
// is not a plain entry makes the removal fail instead.
func removeStateDir(dir string) error {
	unbindCriuRoot(dir)
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove state %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove state %s: %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove state %s: %w", dir, err)
	}
	return nil
}
