package libcontainer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ocirun/ocirun/libcontainer/cgroups"
	"github.com/ocirun/ocirun/libcontainer/configs"
)

// cgroup returns the manager of the container's cgroup, in the hierarchies
// create found (saved in the state, as runc saves its cgroup paths: later
// commands need not parse mountinfo again), or, for a state saved without
// them, in those mounted now.
func (c *Container) cgroup() (*cgroups.Manager, error) {
	if c.state.CgroupPath == "" {
		return nil, errors.New("container has no cgroup")
	}
	if c.cg != nil && c.cg.CgroupPath() == c.state.CgroupPath {
		return c.cg, nil
	}
	layout := c.state.CgroupLayout
	if layout == nil {
		var err error
		if layout, err = cgroups.Detect(); err != nil {
			return nil, err
		}
	}
	if c.cg != nil {
		c.cg.Close()
	}
	c.cg = cgroups.New(layout, c.state.CgroupPath)
	return c.cg, nil
}

// setupCgroup makes the container's cgroup with all its limits, before any
// process is in it (restore).
func (c *Container) setupCgroup(cfg *configs.Config) (*cgroups.Manager, error) {
	m, err := c.makeCgroup(cfg)
	if err != nil {
		return nil, err
	}
	if err := m.SetLate(cfg.Resources); err != nil {
		return nil, err
	}
	return m, nil
}

// makeCgroup makes the container's cgroup with the limits a process must
// find in it (SetEarly); the init joins it from its first stage, and create
// writes the other limits while the init's Go runtime starts.
func (c *Container) makeCgroup(cfg *configs.Config) (*cgroups.Manager, error) {
	layout, err := cgroups.Detect()
	if err != nil {
		return nil, err
	}
	return c.makeCgroupIn(layout, cfg)
}

// makeCgroupIn is makeCgroup on a layout already detected.
func (c *Container) makeCgroupIn(layout *cgroups.Layout, cfg *configs.Config) (*cgroups.Manager, error) {
	path, err := cgroups.Path(cfg.CgroupsPath, c.id)
	if err != nil {
		return nil, err
	}
	m := cgroups.New(layout, path)
	if c.cg != nil {
		c.cg.Close()
	}
	c.cg = m
	// Pids reads one hierarchy's cgroup.procs: a cgroup that is not there has
	// none (one failed open, where a stat of every hierarchy's directory
	// first cost ten lookups).
	if pids, _ := m.Pids(); len(pids) > 0 {
		return nil, fmt.Errorf("linux.cgroupsPath %q: the cgroup already has processes", path)
	}
	c.state.CgroupPath, c.state.CgroupLayout = path, layout
	if err := os.Symlink(path, filepath.Join(c.dir, cgroupLink)); err != nil {
		return nil, fmt.Errorf("record the cgroup %s in the state directory: %w", path, err)
	}
	if err := m.Create(); err != nil {
		return nil, err
	}
	if err := m.SetEarly(cfg.Resources); err != nil {
		return nil, err
	}
	return m, nil
}

// Pause freezes every process of the container.
func (c *Container) Pause() error {
	switch c.Status() {
	case Running, Created:
	case Paused:
		return errors.New("container is already paused")
	default:
		return ErrNotRunning
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	return m.Freeze()
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if c.Status() != Paused {
		return errors.New("container not paused")
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	return m.Thaw()
}

// Update applies new limits to a live container and keeps them in its state.
func (c *Container) Update(r *configs.Resources) error {
	if c.Status() == Stopped {
		return ErrNotRunning
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := m.Set(r); err != nil {
		return err
	}
	cfg, err := c.state.Config()
	if err != nil {
		return err
	}
	cfg.Resources = mergeResources(cfg.Resources, r)
	if err := c.state.SetConfig(cfg); err != nil {
		return err
	}
	return saveState(c.dir, c.state)
}

// Stats reads the container's cgroup usage.
func (c *Container) Stats() (*cgroups.Stats, error) {
	if c.Status() == Stopped {
		return nil, ErrNotRunning
	}
	m, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return m.Stats()
}

// Processes lists the host pids in the container's cgroup.
func (c *Container) Processes() ([]int, error) {
	if c.Status() == Stopped {
		return nil, ErrNotRunning
	}
	m, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return m.Pids()
}

// OOMNotifier returns the manager for `events` to watch OOM kills with.
func (c *Container) CgroupManager() (*cgroups.Manager, error) { return c.cgroup() }

// mergeResources lays the groups update sets over the saved ones.
func mergeResources(old, upd *configs.Resources) *configs.Resources {
	if old == nil {
		return upd
	}
	out := *old
	if upd.Memory != nil {
		out.Memory = upd.Memory
	}
	if upd.CPU != nil {
		out.CPU = upd.CPU
	}
	if upd.PidsLimit != nil {
		out.PidsLimit = upd.PidsLimit
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if len(upd.Devices) > 0 {
		out.Devices = upd.Devices
	}
	if len(upd.Unified) > 0 {
		out.Unified = upd.Unified
	}
	return &out
}

// removeCgroup deletes the container's cgroup if it made one.
func (c *Container) removeCgroup() error {
	if c.state.CgroupPath == "" {
		return nil
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	return m.Destroy()
}

// cgroupLink, in a container's state directory, names the container's
// cgroup, written before the cgroup is made: a create killed before it
// saved any state leaves only its directory, and `delete` finds the cgroup
// to remove by this. Without it, no cgroup is touched: the default path
// (/ocirun/<id>) may be a container's of the same id under another --root.
const cgroupLink = "cgroup"

// removeStaleCgroup removes the cgroup of a create that died before it
// saved any state. Its init ends with it (its next read from create's
// socket fails), which may take a moment; processes still in the cgroup
// after a second are another container's that uses the same path (the same
// id under another --root, or the same linux.cgroupsPath), and the cgroup
// is left to them.
func removeStaleCgroup(dir, id string) {
	target, err := os.Readlink(filepath.Join(dir, cgroupLink))
	if err != nil {
		return // killed before it made one
	}
	path, err := cgroups.Path(target, id)
	if err != nil {
		slog.Warn("stale container's cgroup", "error", err)
		return
	}
	layout, err := cgroups.Detect()
	if err != nil {
		slog.Warn("stale container's cgroup", "error", err)
		return
	}
	m := cgroups.New(layout, path)
	defer m.Close()
	for delay := time.Millisecond; ; delay *= 2 {
		if pids, _ := m.Pids(); len(pids) == 0 {
			break
		}
		if delay > time.Second { // not an init on its way out
			slog.Warn("a stale container's cgroup has processes: left in place", "cgroup", path)
			return
		}
		time.Sleep(delay)
	}
	if err := m.Destroy(); err != nil {
		slog.Warn("remove a stale container's cgroup", "error", err)
	}
}
