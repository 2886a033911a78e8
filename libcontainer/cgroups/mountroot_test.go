package cgroups

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountsParent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layout Layout
		want   string
	}{
		{"hybrid", Layout{V1: map[string]string{"memory": "/sys/fs/cgroup/memory", "cpu": "/sys/fs/cgroup/cpu,cpuacct"}, V2: "/sys/fs/cgroup/unified"}, "/sys/fs/cgroup"},
		{"v1 only", Layout{V1: map[string]string{"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"}}, "/sys/fs/cgroup"},
		{"unified only", Layout{V2: "/sys/fs/cgroup"}, "/sys/fs/cgroup"},
		{"one v1 hierarchy", Layout{V1: map[string]string{"memory": "/cg/memory"}}, "/cg"},
		{"apart", Layout{V1: map[string]string{"memory": "/cgroup/memory", "pids": "/sys/fs/cgroup/pids"}}, "/"},
		{"a prefix that is no parent", Layout{V1: map[string]string{"memory": "/sys/fs/cg/memory", "pids": "/sys/fs/cgroup/pids"}}, "/sys/fs"},
		{"none", Layout{}, ""},
	} {
		if got := mountsParent(&tc.layout); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A path below the mount root is reached from it; any other from /.
func TestManagerAt(t *testing.T) {
	dir := t.TempDir()
	m := New(&Layout{V1: map[string]string{"memory": dir + "/memory", "pids": dir + "/pids"}}, "/x")
	fd, rel := m.at(dir + "/memory/x/tasks")
	if fd < 0 || rel != "memory/x/tasks" {
		t.Errorf("below the root: %d %q", fd, rel)
	}
	for _, p := range []string{"/proc/1/cgroup", dir, dir + "x/memory"} {
		if fd, rel := m.at(p); fd >= 0 || rel != p {
			t.Errorf("%s: %d %q", p, fd, rel)
		}
	}
}

// Close lets the mount root's fd go; later paths walk from / again.
func TestManagerClose(t *testing.T) {
	dir := t.TempDir()
	m := New(&Layout{V1: map[string]string{"memory": dir + "/memory", "pids": dir + "/pids"}}, "/x")
	fd, _ := m.at(dir + "/memory/x/tasks")
	m.Close()
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("the mount root's fd %d is still open after Close: %v", fd, err)
	}
	if fd, rel := m.at(dir + "/memory/x/tasks"); fd >= 0 || rel != dir+"/memory/x/tasks" {
		t.Errorf("after Close: %d %q", fd, rel)
	}
	m.Close() // twice, and on a Manager that never opened it
	New(&Layout{V2: dir}, "/x").Close()
}
