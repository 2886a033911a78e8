package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRootfs(t *testing.T) {
	r := newRT(t)
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "file"), []byte("host file\n"), 0o644)
	tests := []struct {
		name   string
		script string
		mutate func(*specs.Spec)
		want   string
	}{
		{"read-only root", "touch /x 2>/dev/null && echo writable || echo read-only", nil, "read-only"},
		{"writable root", "awk '$5==\"/\" {print substr($6,1,2)}' /proc/self/mountinfo", func(s *specs.Spec) {
			s.Root.Readonly = false
		}, "rw"},
		{"masked file reads empty", "wc -c < /proc/timer_list; stat -c %t:%T /proc/keys", nil, "0\n1:3"},
		{"masked directory is empty", "ls -A /sys/firmware | wc -l", nil, "0"},
		{"read-only path", "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo read-only", nil, "read-only"},
		{"tmpfs with size and mode", "stat -c %a /scratch; grep ' /scratch ' /proc/self/mountinfo | grep -o 'size=[0-9]*k'", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1024k", "mode=700", "nosuid"}})
		}, "700\nsize=1024k"},
		{"read-only bind of a directory", "cat /data/file; touch /data/new 2>/dev/null && echo writable || echo read-only", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: hostDir, Options: []string{"bind", "ro"}})
		}, "host file\nread-only"},
		{"bind of a file", "cat /etc/hosted", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/hosted", Type: "bind", Source: filepath.Join(hostDir, "file"), Options: []string{"rbind"}})
		}, "host file"},
		{"nosuid nodev noexec bind", "grep ' /data ' /proc/self/mountinfo | grep -o 'nosuid,nodev,noexec'", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: hostDir, Options: []string{"rbind", "nosuid", "nodev", "noexec"}})
		}, "nosuid,nodev,noexec"},
		{"recursive read-only bind", "grep ' /data ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: hostDir, Options: []string{"rbind", "rro"}})
		}, "ro"},
		{"proc, sys, devpts, shm, mqueue, cgroup", "for m in /proc /sys /dev/pts /dev/shm /dev/mqueue /sys/fs/cgroup; do grep -q \" $m \" /proc/self/mountinfo && echo -n ok; done", nil, "okokokokokok"},
		{"default devices", "for d in null zero full random urandom tty; do test -c /dev/$d && echo -n $d,; done; head -c 4 /dev/zero | wc -c", nil, "null,zero,full,random,urandom,tty,4"},
		{"dev symlinks", "for l in fd stdin stdout stderr ptmx; do echo -n $(readlink /dev/$l)' '; done", nil, "/proc/self/fd /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2 pts/ptmx"},
		{"linux.devices", "stat -c '%t:%T %a %u' /dev/mynull", func(s *specs.Spec) {
			mode, uid := os.FileMode(0o640), uint32(1000)
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid}}
		}, "1:3 640 1000"},
		{"no-pivot is not used by default: old root is gone", "cat /proc/self/mountinfo | wc -l | (read n; test $n -lt 40 && echo few)", nil, "few"},
		{"rootfsPropagation", "awk '$5==\"/\"' /proc/self/mountinfo | grep -o 'shared:[0-9]*' | cut -d: -f1", func(s *specs.Spec) {
			s.Linux.RootfsPropagation = "rshared"
		}, "shared"},
		// The rootfs is bound onto itself before pivot_root, which an
		// unbindable "/" would refuse: unbindable is applied after pivot.
		{"unbindable rootfsPropagation", "awk '$5==\"/\"' /proc/self/mountinfo | grep -o unbindable", func(s *specs.Spec) {
			s.Linux.RootfsPropagation = "unbindable"
		}, "unbindable"},
		{"private rootfsPropagation", "awk '$5==\"/\"' /proc/self/mountinfo | grep -cE 'shared:|master:|unbindable'; true", func(s *specs.Spec) {
			s.Linux.RootfsPropagation = "rprivate"
		}, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			if got := r.sh(tt.script, tt.mutate); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNoPivot(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sh", "-c", "ls /bin/busybox && hostname"}, nil)
	res := r.run("run", "--no-pivot", "--bundle", b, "np")
	if res.code != 0 || !strings.Contains(res.stdout, "/bin/busybox") {
		t.Fatalf("exit %d, %q %q", res.code, res.stdout, res.stderr)
	}
}

// A symlink in the rootfs that points out of it must not send a mount outside.
func TestMountTargetSymlinkStaysInRoot(t *testing.T) {
	r := newRT(t)
	rootfs := t.TempDir()
	if err := copyTree(testEnv.rootfs, rootfs); err != nil {
		t.Fatal(err)
	}
	victim := t.TempDir()
	if err := os.Symlink(victim, filepath.Join(rootfs, "escape")); err != nil {
		t.Fatal(err)
	}
	// Resolved inside the root, the link names <rootfs>/<victim>: make it exist.
	if err := os.MkdirAll(filepath.Join(rootfs, victim), 0o755); err != nil {
		t.Fatal(err)
	}
	b := bundle(t, []string{"sh", "-c", "awk '$5==\"" + victim + "\" {print $9}' /proc/self/mountinfo"}, func(s *specs.Spec) {
		s.Root.Path = rootfs
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/escape", Type: "tmpfs", Source: "tmpfs"})
	})
	res := r.run("run", "--bundle", b, "sym")
	// The tmpfs landed on <victim> inside the container's root, not on the host's victim.
	if res.code != 0 || strings.TrimSpace(res.stdout) != "tmpfs" {
		t.Fatalf("exit %d, stdout %q: %s", res.code, res.stdout, res.stderr)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), victim) {
		t.Fatal("the mount escaped to the host")
	}

	// A missing target under the link: made by one mkdirat in the parent
	// resolved inside the root (mkdirLast), so <rootfs>/<victim>/new, never
	// the host's <victim>/new.
	b = bundle(t, []string{"sh", "-c", "awk '$5==\"" + victim + "/new\" {print $9}' /proc/self/mountinfo"}, func(s *specs.Spec) {
		s.Root.Path = rootfs
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/escape/new", Type: "tmpfs", Source: "tmpfs"})
	})
	res = r.run("run", "--bundle", b, "symnew")
	if res.code != 0 || strings.TrimSpace(res.stdout) != "tmpfs" {
		t.Fatalf("missing target: exit %d, stdout %q: %s", res.code, res.stdout, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(victim, "new")); err == nil {
		t.Fatal("the missing target was made on the host")
	}
	if st, err := os.Stat(filepath.Join(rootfs, victim, "new")); err != nil || !st.IsDir() {
		t.Fatalf("the missing target is not in the rootfs: %v", err)
	}
}

// copyTree copies the busybox rootfs with cp -a (symlinks kept).
func copyTree(src, dst string) error {
	return runHost("cp", "-a", src+"/.", dst)
}
