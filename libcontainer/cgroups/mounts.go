package cgroups

import (
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Mounts returns the host's cgroup and cgroup2 mounts: where systemd and the
// distributions put them when every hierarchy is there (conventionalMounts),
// else as /proc/self/mountinfo lists them.
func Mounts() ([]*mountinfo.Info, error) {
	if mounts, ok := conventionalMounts("/proc/self/cgroup", "/sys/fs/cgroup"); ok {
		return mounts, nil
	}
	return mountinfoMounts()
}

// mountinfoMounts reads the cgroup and cgroup2 mounts from /proc/self/mountinfo.
func mountinfoMounts() ([]*mountinfo.Info, error) {
	mounts, err := mountinfo.GetMounts(func(i *mountinfo.Info) (skip, stop bool) {
		return i.FSType != "cgroup" && i.FSType != "cgroup2", false
	})
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// conventionalMounts finds the hierarchies /proc/self/cgroup lists at their
// conventional places under base (/sys/fs/cgroup): each v1 hierarchy at
// base/<its controllers> ("cpu,cpuacct", "systemd" for name=systemd) on a
// tmpfs at base, cgroup2 at base itself or base/unified, each checked to be
// a cgroup or cgroup2 filesystem. Reading mountinfo instead takes the kernel's one lock over
// every mount namespace (namespace_sem) while it prints every mount; each
// mount, unshare and umount of other containers being created holds it for
// writing: with a hundred creates at once, this read was 3 % of their wall
// time (docs/PERFORMANCE.md, twelfth round). ok is false when a v1
// hierarchy is not where it should be: the caller reads mountinfo. A cgroup2
// hierarchy at neither place counts as not mounted, as crun and systemd take
// it; a v1 hierarchy mounted at its place as another one would make the
// writes of limits fail, naming the file.
func conventionalMounts(procCgroup, base string) (mounts []*mountinfo.Info, ok bool) {
	data, err := os.ReadFile(procCgroup)
	if err != nil {
		return nil, false
	}
	// v1 hierarchies sit on a tmpfs at base: then a cgroup filesystem at
	// base/<name> is a mount, not a child cgroup of a hierarchy at base.
	baseIsTmpfs := fsMagic(base) == unix.TMPFS_MAGIC
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		id, rest, found := strings.Cut(line, ":")
		controllers, _, found2 := strings.Cut(rest, ":")
		if !found || !found2 {
			return nil, false
		}
		if id == "0" {
			for _, p := range []string{base, base + "/unified"} {
				if fsMagic(p) == unix.CGROUP2_SUPER_MAGIC {
					mounts = append(mounts, &mountinfo.Info{Mountpoint: p, FSType: "cgroup2", VFSOptions: "rw"})
					break
				}
			}
			continue
		}
		if !baseIsTmpfs || controllers == "" || strings.Contains(controllers, "/") {
			return nil, false
		}
		p := base + "/" + strings.ReplaceAll(controllers, "name=", "")
		if fsMagic(p) != unix.CGROUP_SUPER_MAGIC {
			return nil, false
		}
		mounts = append(mounts, &mountinfo.Info{Mountpoint: p, FSType: "cgroup", VFSOptions: "rw," + controllers})
	}
	return mounts, len(mounts) > 0
}

// fsMagic is the filesystem type of the mount holding path, 0 when unknown.
func fsMagic(path string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	return st.Type
}
