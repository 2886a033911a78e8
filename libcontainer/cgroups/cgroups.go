// Package cgroups places a container's processes in cgroups and controls
// them: limits, stats, freezing, killing, removal. It reads the host's
// layout from mountinfo and drives v1 hierarchies, the v2 unified one, or
// both on a hybrid host (v1 for the controllers v1 holds, v2 for the rest,
// and every container joins the unified hierarchy too, as runc does).
package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// Layout is where the host mounts its hierarchies.
type Layout struct {
	V1 map[string]string `json:"v1,omitempty"` // controller (or "name=systemd") → mountpoint
	V2 string            `json:"v2,omitempty"` // cgroup2 mountpoint, "" when none
	// Unified is true on a pure v2 host (cgroup2 at /sys/fs/cgroup).
	Unified bool `json:"unified,omitempty"`
	// V2Controllers are the controllers the cgroup2 hierarchy holds.
	V2Controllers map[string]bool `json:"v2_controllers,omitempty"`
}

// Detect reads the layout from /proc/self/mountinfo.
func Detect() (*Layout, error) {
	mounts, err := Mounts()
	if err != nil {
		return nil, err
	}
	return DetectFrom(mounts)
}

// Mounts reads the cgroup and cgroup2 mounts from /proc/self/mountinfo.
func Mounts() ([]*mountinfo.Info, error) {
	mounts, err := mountinfo.GetMounts(func(i *mountinfo.Info) (skip, stop bool) {
		return i.FSType != "cgroup" && i.FSType != "cgroup2", false
	})
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// DetectFrom is Detect from the cgroup mounts already read (Mounts).
func DetectFrom(mounts []*mountinfo.Info) (*Layout, error) {
	l := &Layout{V1: map[string]string{}, V2Controllers: map[string]bool{}}
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			if l.V2 == "" || m.Mountpoint == "/sys/fs/cgroup" {
				l.V2 = m.Mountpoint
			}
			continue
		}
		for _, opt := range strings.Split(m.VFSOptions, ",") {
			if isV1Controller(opt) {
				if _, seen := l.V1[opt]; !seen {
					l.V1[opt] = m.Mountpoint
				}
			}
		}
	}
	l.Unified = l.V2 == "/sys/fs/cgroup" && len(l.V1) == 0
	if l.V2 != "" {
		data, _ := os.ReadFile(filepath.Join(l.V2, "cgroup.controllers"))
		for _, c := range strings.Fields(string(data)) {
			l.V2Controllers[c] = true
		}
	}
	if l.V2 == "" && len(l.V1) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return l, nil
}

func isV1Controller(opt string) bool {
	switch opt {
	case "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
		"net_cls", "net_prio", "perf_event", "rdma", "misc", "name=systemd":
		return true
	}
	return false
}

// Manager is one container's cgroup: the same path in every hierarchy.
type Manager struct {
	layout *Layout
	path   string     // absolute cgroup path, e.g. /ocirun/<id>
	root   *mountRoot // where its files are reached from (mountroot.go)
}

// Path resolves linux.cgroupsPath: absolute as given, relative under "/",
// and "/ocirun/<id>" when absent.
func Path(cgroupsPath, id string) (string, error) {
	if cgroupsPath == "" {
		return "/ocirun/" + id, nil
	}
	if strings.Contains(cgroupsPath, ":") {
		return "", fmt.Errorf("linux.cgroupsPath %q: looks like a systemd slice:prefix:name path; ocirun has no systemd driver", cgroupsPath)
	}
	p := filepath.Clean("/" + cgroupsPath)
	if p == "/" {
		return "", fmt.Errorf("linux.cgroupsPath %q: the root cgroup cannot be a container's", cgroupsPath)
	}
	return p, nil
}

// New returns the manager for a resolved cgroup path.
func New(layout *Layout, path string) *Manager {
	return &Manager{layout: layout, path: path, root: &mountRoot{}}
}

// CgroupPath returns the container's cgroup path inside each hierarchy.
func (m *Manager) CgroupPath() string { return m.path }

// v1Dir is the container's directory in a v1 controller's hierarchy, or "".
func (m *Manager) v1Dir(controller string) string {
	mp, ok := m.layout.V1[controller]
	if !ok {
		return ""
	}
	return filepath.Join(mp, m.path)
}

// v2Dir is the container's directory in the unified hierarchy, or "".
func (m *Manager) v2Dir() string {
	if m.layout.V2 == "" {
		return ""
	}
	return filepath.Join(m.layout.V2, m.path)
}

// onV2 reports whether a controller is handled in the unified hierarchy.
func (m *Manager) onV2(controller string) bool {
	_, v1 := m.layout.V1[controller]
	return !v1 && m.layout.V2Controllers[controller]
}

// v1Dirs lists the container's directory in each v1 hierarchy, once each
// (co-mounted controllers share one).
func (m *Manager) v1Dirs() []string {
	seen := map[string]bool{}
	var out []string
	for c := range m.layout.V1 {
		if d := m.v1Dir(c); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// dirs lists every directory of the container's cgroup, v1 ones first.
func (m *Manager) dirs() []string {
	out := m.v1Dirs()
	if d := m.v2Dir(); d != "" {
		out = append(out, d)
	}
	return out
}

// Create makes the cgroup in every hierarchy and enables the controllers
// the unified hierarchy needs; limits come with Set before any process joins.
func (m *Manager) Create() error {
	made := map[string]bool{} // directory → made now, under a parent that was there
	for c := range m.layout.V1 {
		dir := m.v1Dir(c)
		fresh, done := made[dir]
		if !done {
			// One mkdir where the parent exists (the usual case), MkdirAll otherwise;
			// co-mounted controllers share the directory.
			err := m.mkdir(dir)
			fresh = err == nil
			if errors.Is(err, fs.ErrNotExist) {
				err = os.MkdirAll(dir, 0o755)
			} else if errors.Is(err, fs.ErrExist) {
				err = nil
			}
			if err != nil {
				return fmt.Errorf("create cgroup %s: %w", dir, err)
			}
			made[dir] = fresh
		}
		if c == "cpuset" {
			if err := m.fillCpuset(filepath.Dir(dir), dir, m.layout.V1[c], fresh); err != nil {
				return err
			}
		}
	}
	if m.layout.V2 != "" {
		if err := m.createV2(); err != nil {
			return err
		}
	}
	return nil
}

// Apply moves pid into the container's cgroup in every hierarchy. A pid
// written to cgroup.procs takes the kernel's global lock (an RCU grace
// period); a new init joins by itself instead (V1Tasks).
func (m *Manager) Apply(pid int) error {
	for _, dir := range m.dirs() {
		if err := m.writeFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Holds checks that pid is in the container's cgroup in every hierarchy
// the container has one in (from /proc/PID/cgroup).
func (m *Manager) Holds(pid int) error {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return fmt.Errorf("read cgroups of %d: %w", pid, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ours := false
		if parts[0] == "0" && parts[1] == "" {
			ours = m.layout.V2 != ""
		}
		for _, c := range strings.Split(parts[1], ",") {
			if _, ok := m.layout.V1[c]; ok && c != "" {
				ours = true
			}
		}
		if ours && parts[2] != m.path {
			return fmt.Errorf("process %d is in cgroup %s (%s), not %s", pid, parts[2], line, m.path)
		}
	}
	return nil
}

// Hierarchies names each hierarchy the container has a cgroup in, as
// /proc/PID/cgroup names them: v1 controllers ("name=systemd" for a named
// one), and "" for the unified hierarchy.
func (m *Manager) Hierarchies() []string {
	var out []string
	for c := range m.layout.V1 {
		out = append(out, c)
	}
	if m.layout.V2 != "" {
		out = append(out, "")
	}
	return out
}

// V1Tasks lists the `tasks` file of the container's cgroup in every v1
// hierarchy. The init's first stage joins them itself by writing "0": a task
// that moves itself takes no global lock, while a pid written to
// cgroup.procs waits for an RCU grace period (milliseconds, per create).
func (m *Manager) V1Tasks() []string {
	var out []string
	for _, d := range m.v1Dirs() {
		out = append(out, filepath.Join(d, "tasks"))
	}
	return out
}

// OpenFile opens one of the cgroup's files for writing (mountroot.go).
func (m *Manager) OpenFile(path string) (*os.File, error) {
	return m.openFile(path, unix.O_WRONLY)
}

// V1MemoryTasks is the `tasks` file of the container's cgroup in the v1
// memory hierarchy, or "" when memory is not on v1.
func (m *Manager) V1MemoryTasks() string {
	if d := m.v1Dir("memory"); d != "" {
		return filepath.Join(d, "tasks")
	}
	return ""
}

// Pids lists the processes in the container's cgroup and in the cgroups a
// container may make inside it (systemd, a nested runtime), as runc's ps and
// kill --all see them.
func (m *Manager) Pids() ([]int, error) {
	dir := m.v1Dir("pids")
	if dir == "" {
		dir = m.v1Dir("freezer")
	}
	if dir == "" {
		dir = m.v2Dir()
	}
	if dir == "" {
		for _, d := range m.dirs() {
			dir = d
			break
		}
	}
	return m.treePids(dir, nil)
}

// treePids appends the processes of the cgroup dir and of those below it.
// An error in a cgroup below (one removed meanwhile, a threaded cgroup whose
// processes its domain lists, one a container made too deep for a path) does
// not stop the walk: what was found is returned with the first error.
func (m *Manager) treePids(dir string, pids []int) ([]int, error) {
	data, err := m.readFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return pids, err
	}
	for _, f := range strings.Fields(string(data)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	subs, err := m.subcgroups(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return pids, nil // removed meanwhile: nothing below it
	}
	for _, sub := range subs {
		var serr error
		pids, serr = m.treePids(sub, pids)
		if err == nil && !gone(serr) && !errors.Is(serr, unix.EOPNOTSUPP) {
			err = serr
		}
	}
	return pids, err
}

// gone reports an error of a cgroup removed while it was read.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV)
}

// subcgroups lists the cgroups directly inside the cgroup dir. A cgroup
// directory's link count is two plus its subdirectories (kernfs keeps it so
// in v1 and v2): the common cgroup, without any, costs one stat, not a read
// of the directory.
func (m *Manager) subcgroups(dir string) ([]string, error) {
	var st unix.Stat_t
	dirfd, rel := m.at(dir)
	if err := unix.Fstatat(dirfd, rel, &st, 0); err != nil {
		return nil, fmt.Errorf("stat %s: %w", dir, err)
	}
	if st.Nlink <= 2 {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var subs []string
	for _, e := range entries {
		if e.IsDir() {
			subs = append(subs, filepath.Join(dir, e.Name()))
		}
	}
	return subs, nil
}

// Exists reports whether the cgroup is there (in any hierarchy).
func (m *Manager) Exists() bool {
	for _, d := range m.dirs() {
		if _, err := os.Stat(d); err == nil {
			return true
		}
	}
	return false
}

// Destroy removes the cgroup's directories. Processes that were just killed
// can keep a cgroup busy for a moment: rmdir is retried with a bound.
func (m *Manager) Destroy() error {
	var firstErr error
	for _, dir := range m.dirs() {
		if err := m.removeTree(dir); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// removeTree removes the cgroup dir, first the cgroups a container made
// inside it, deepest first (rmdir refuses a cgroup with cgroups inside:
// EBUSY, as for one whose processes are still on their way out, which is
// worth waiting for; its subdirectories are not).
func (m *Manager) removeTree(dir string) error {
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	subs, err := m.subcgroups(dir)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if serr := m.removeTree(sub); serr != nil && err == nil {
			err = serr // the others still go
		}
	}
	if err != nil {
		return err
	}
	return rmdirRetry(dir)
}

func rmdirRetry(dir string) error {
	delay := time.Millisecond
	for i := 0; ; i++ {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || i == 12 {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay *= 2
	}
}

var cpusetFiles = [2]string{"cpuset.cpus", "cpuset.mems"}

// fillCpuset gives a v1 cpuset cgroup its parent's cpus and mems (empty ones
// refuse tasks). One made just now under a parent that has both only needs
// them copied (its own are empty: not read); any other case walks up.
func (m *Manager) fillCpuset(parent, dir, mountpoint string, fresh bool) error {
	if !fresh {
		return m.inheritCpuset(parent, dir, mountpoint)
	}
	var vals [2]string
	for i, f := range cpusetFiles {
		val, err := m.readFile(filepath.Join(parent, f))
		if err != nil {
			return fmt.Errorf("read %s: %w", filepath.Join(parent, f), err)
		}
		if vals[i] = strings.TrimSpace(string(val)); vals[i] == "" {
			return m.inheritCpuset(parent, dir, mountpoint)
		}
	}
	for i, f := range cpusetFiles {
		if err := m.writeFile(dir, f, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// inheritCpuset gives a new v1 cpuset cgroup its parent's cpus and mems
// (empty ones refuse tasks), filling parents first up to the mountpoint.
func (m *Manager) inheritCpuset(parent, dir, mountpoint string) error {
	if parent != mountpoint && strings.HasPrefix(parent, mountpoint) {
		if err := m.inheritCpuset(filepath.Dir(parent), parent, mountpoint); err != nil {
			return err
		}
	}
	for _, f := range cpusetFiles {
		cur, _ := m.readFile(filepath.Join(dir, f))
		if strings.TrimSpace(string(cur)) != "" {
			continue
		}
		val, err := m.readFile(filepath.Join(parent, f))
		if err != nil {
			return fmt.Errorf("read %s: %w", filepath.Join(parent, f), err)
		}
		if err := m.writeFile(dir, f, strings.TrimSpace(string(val))); err != nil {
			return err
		}
	}
	return nil
}

func readUint(dir, file string) (uint64, error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return ^uint64(0), nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKV parses "key value" lines (memory.stat, memory.events, cpu.stat...).
func readKV(dir, file string) map[string]uint64 {
	out := map[string]uint64{}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Resources is a shorthand for the config type.
type Resources = configs.Resources
