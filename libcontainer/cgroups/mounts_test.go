package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// Where the hierarchies are where systemd puts them (this host, hybrid; the
// test VM, unified), the layout found there is mountinfo's.
func TestConventionalMountsLikeMountinfo(t *testing.T) {
	conv, ok := conventionalMounts("/proc/self/cgroup", "/sys/fs/cgroup")
	if !ok {
		t.Skip("this host's cgroup hierarchies are not all at their conventional places: Mounts reads mountinfo")
	}
	all, err := mountinfoMounts()
	if err != nil {
		t.Fatal(err)
	}
	want, err := DetectFrom(all)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DetectFrom(conv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("conventional layout %+v, mountinfo's %+v", got, want)
	}
}

// Anything not at its place is left to mountinfo.
func TestConventionalMountsLeavesTheRest(t *testing.T) {
	notTmpfs := t.TempDir()
	for _, tc := range []struct {
		name, cgroup, base string
	}{
		{"a v1 hierarchy elsewhere", "4:nosuch:/\n0::/\n", "/sys/fs/cgroup"},
		{"v1 under a base that is no tmpfs", "4:memory:/\n", notTmpfs},
		{"a v1 hierarchy without controllers", "4::/\n", "/sys/fs/cgroup"},
		{"a name with a slash", "4:name=a/../memory:/\n", "/sys/fs/cgroup"},
		{"a line that is not one", "garbage\n", "/sys/fs/cgroup"},
		{"no hierarchy found", "0::/\n", notTmpfs},
		{"nothing", "", "/sys/fs/cgroup"},
	} {
		path := filepath.Join(t.TempDir(), "cgroup")
		if err := os.WriteFile(path, []byte(tc.cgroup), 0o644); err != nil {
			t.Fatal(err)
		}
		if mounts, ok := conventionalMounts(path, tc.base); ok {
			t.Errorf("%s: found %d mounts, want mountinfo read", tc.name, len(mounts))
		}
	}
	if _, ok := conventionalMounts(filepath.Join(notTmpfs, "missing"), "/sys/fs/cgroup"); ok {
		t.Error("no /proc/self/cgroup: want mountinfo read")
	}
}

// A cgroup2 hierarchy mounted at neither conventional place counts as not
// mounted (the bench's view: crun refuses a hybrid host); the v1 ones are
// still found.
func TestConventionalMountsWithoutUnified(t *testing.T) {
	if fsMagic("/sys/fs/cgroup/unified") != unix.CGROUP2_SUPER_MAGIC {
		t.Skip("no cgroup2 at /sys/fs/cgroup/unified: this is not a hybrid host")
	}
	before, ok := conventionalMounts("/proc/self/cgroup", "/sys/fs/cgroup")
	if !ok {
		t.Skip("this host's hierarchies are not at their conventional places")
	}
	type result struct {
		mounts []string
		ok     bool
		err    error
	}
	done := make(chan result, 1)
	go func() {
		// This thread leaves with its own mount namespace: never unlocked, it ends with the goroutine.
		runtime.LockOSThread()
		var r result
		if r.err = unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); r.err == nil {
			if r.err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); r.err == nil {
				r.err = unix.Unmount("/sys/fs/cgroup/unified", 0)
			}
		}
		if r.err == nil {
			mounts, ok := conventionalMounts("/proc/self/cgroup", "/sys/fs/cgroup")
			r.ok = ok
			for _, m := range mounts {
				r.mounts = append(r.mounts, m.FSType+" "+m.Mountpoint)
			}
		}
		done <- r
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	var want []string
	for _, m := range before {
		if m.FSType == "cgroup" {
			want = append(want, m.FSType+" "+m.Mountpoint)
		}
	}
	if !r.ok || !reflect.DeepEqual(r.mounts, want) {
		t.Fatalf("without /sys/fs/cgroup/unified: %q (ok %v), want %q", r.mounts, r.ok, want)
	}
}
