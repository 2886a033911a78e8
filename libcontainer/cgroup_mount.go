package libcontainer

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// mountCgroup gives the container a /sys/fs/cgroup that mirrors the host's
// layout: one cgroup2 mount on a unified host; on a v1 or hybrid host a tmpfs
// holding each hierarchy. With a cgroup namespace each hierarchy is mounted
// afresh (the kernel shows the namespace's root); without one, the
// container's own cgroup directory is bind-mounted, never the whole tree.
// proc names the container's process under /proc: "self" in the Go init, pid
// 1's pid for the parent's builder thread (whose namespaces are the thread's,
// so its mounts are read from /proc/thread-self).
func mountCgroup(root *os.File, m *configs.Mount, dest string, target *os.File, userns bool, proc string,
	hierarchies func() ([]*mountinfo.Info, error)) error {
	hosts, err := hierarchies()
	if err != nil {
		return err
	}
	own, err := ownCgroups(proc)
	if err != nil {
		return err
	}
	cgroupns := hasCgroupNS(own, proc)
	flags := m.Flags &^ (unix.MS_REC | unix.MS_BIND)
	for _, h := range hosts {
		if h.Mountpoint == "/sys/fs/cgroup" && h.FSType == "cgroup2" {
			return mountHierarchy(h, own, cgroupns, target, func() (*os.File, error) { return openInRoot(root, dest) }, flags)
		}
	}
	if err := unix.Mount("tmpfs", procFdPath(target), "tmpfs", uintptr(flags&^unix.MS_RDONLY), "mode=755"); err != nil {
		return fmt.Errorf("tmpfs for cgroup hierarchies: %w", err)
	}
	tmpfs, err := openInRoot(root, dest)
	if err != nil {
		return err
	}
	defer tmpfs.Close()
	for _, h := range hosts {
		name := filepath.Base(h.Mountpoint)
		fd, err := mkdirInRoot(tmpfs, name, 0o755)
		if err != nil {
			return fmt.Errorf("cgroup hierarchy %s: %w", name, err)
		}
		err = mountHierarchy(h, own, cgroupns, fd, func() (*os.File, error) { return openInRoot(tmpfs, name) }, flags)
		fd.Close()
		if err != nil {
			return err
		}
		// Co-mounted controllers get a link per name, as on the host (cpu -> cpu,cpuacct).
		if strings.Contains(name, ",") {
			for _, c := range strings.Split(name, ",") {
				unix.Symlinkat(name, int(tmpfs.Fd()), c)
			}
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", procFdPath(tmpfs), "", uintptr(flags|unix.MS_REMOUNT), "mode=755"); err != nil {
			return fmt.Errorf("remount cgroup tmpfs read-only: %w", err)
		}
	}
	return nil
}

// hostHierarchies reads the cgroup hierarchies mounted under /sys/fs/cgroup
// in this thread's mount namespace.
func hostHierarchies() ([]*mountinfo.Info, error) {
	mi, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer mi.Close()
	hosts, err := mountinfo.GetMountsFromReader(mi, func(i *mountinfo.Info) (skip, stop bool) {
		return !(i.FSType == "cgroup" || i.FSType == "cgroup2") || !underSysFsCgroup(i), false
	})
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return hosts, nil
}

// hierarchiesFrom is hostHierarchies from the cgroup mounts create read
// once for its cgroup layout (cgroups.Mounts): the builder reads them before
// it changes its mount namespace, a copy of create's.
func hierarchiesFrom(mounts func() ([]*mountinfo.Info, error)) func() ([]*mountinfo.Info, error) {
	return func() ([]*mountinfo.Info, error) {
		all, err := mounts()
		if err != nil {
			return nil, err
		}
		var hosts []*mountinfo.Info
		for _, m := range all {
			if underSysFsCgroup(m) {
				hosts = append(hosts, m)
			}
		}
		return hosts, nil
	}
}

func underSysFsCgroup(m *mountinfo.Info) bool {
	return strings.HasPrefix(m.Mountpoint, "/sys/fs/cgroup")
}

// mountHierarchy mounts one host hierarchy on target; reopen returns the new
// mount's root (target's fd still names the directory under it).
func mountHierarchy(h *mountinfo.Info, own map[string]string, cgroupns bool, targetFd *os.File, reopen func() (*os.File, error), flags int) error {
	target := procFdPath(targetFd)
	key := "" // cgroup2 in /proc/self/cgroup
	data := ""
	if h.FSType == "cgroup" {
		key, data = v1Controllers(h.VFSOptions)
	}
	if cgroupns {
		if err := unix.Mount("cgroup", target, h.FSType, uintptr(flags), data); err == nil {
			return nil
		}
		// v1 hierarchies cannot be mounted from a user namespace: fall through to a bind.
	}
	src := filepath.Join(h.Mountpoint, own[key])
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind cgroup %s: %w", src, err)
	}
	if flags == 0 {
		return nil
	}
	top, err := reopen()
	if err != nil {
		return fmt.Errorf("reopen cgroup mount: %w", err)
	}
	defer top.Close()
	if err := unix.Mount("", procFdPath(top), "", uintptr(flags|unix.MS_BIND|unix.MS_REMOUNT), ""); err != nil {
		return fmt.Errorf("remount cgroup %s: %w", src, err)
	}
	return nil
}

// v1Controllers picks the controller names out of a v1 mount's super options.
// It returns them as /proc/self/cgroup lists them and as mount data.
func v1Controllers(opts string) (key, data string) {
	var names []string
	for _, o := range strings.Split(opts, ",") {
		switch {
		case o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent=") || o == "clone_children" || o == "noprefix" || o == "xattr":
		default:
			names = append(names, o)
		}
	}
	s := strings.Join(names, ",")
	return s, s
}

// ownCgroups reads /proc/<proc>/cgroup: hierarchy controller list → path.
func ownCgroups(proc string) (map[string]string, error) {
	f, err := os.Open("/proc/" + proc + "/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	own := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 {
			own[parts[1]] = parts[2]
		}
	}
	return own, sc.Err()
}

// hasCgroupNS reports whether proc is in a cgroup namespace of its own:
// then every path in its /proc/<proc>/cgroup is "/".
func hasCgroupNS(own map[string]string, proc string) bool {
	self, err1 := os.Readlink("/proc/" + proc + "/ns/cgroup")
	host, err2 := os.Readlink("/proc/1/ns/cgroup")
	if err1 == nil && err2 == nil {
		return self != host
	}
	for _, p := range own {
		if p != "/" {
			return false
		}
	}
	return true
}
