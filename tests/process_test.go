package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// capMask is the CapEff/CapBnd hex mask of the given capability numbers.
func capMask(caps ...uint) string {
	var m uint64
	for _, c := range caps {
		m |= 1 << c
	}
	return fmt.Sprintf("%016x", m)
}

func TestProcessAttributes(t *testing.T) {
	r := newRT(t)
	umask := uint32(0o027)
	tests := []struct {
		name   string
		script string
		mutate func(*specs.Spec)
		want   string
	}{
		{"hostname", "hostname", func(s *specs.Spec) { s.Hostname = "box-one" }, "box-one"},
		{"domainname", "cat /proc/sys/kernel/domainname", func(s *specs.Spec) { s.Domainname = "example.org" }, "example.org"},
		{"uid and gid", "id -u; id -g", func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 1000} }, "1000\n1000"},
		{"additional gids", "id -G", func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5, 65534}}
		}, "1000 5 65534"},
		{"home from passwd", "echo $HOME", func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 1000} }, "/home/user"},
		{"env", "echo $FOO-$BAR", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "FOO=x", "BAR=y z") }, "x-y z"},
		{"cwd", "pwd", func(s *specs.Spec) { s.Process.Cwd = "/tmp" }, "/tmp"},
		{"umask", "umask", func(s *specs.Spec) { s.Process.User.Umask = &umask }, "0027"},
		{"default umask", "umask", nil, "0022"},
		{"capabilities", "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status | cut -f2 | tr '\\n' ' '", nil,
			strings.Repeat(capMask(5, 10, 29)+" ", 3)}, // CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE
		{"capabilities for a non-root user", "grep CapEff /proc/self/status | cut -f2", func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000}
			s.Process.Capabilities.Ambient = []string{"CAP_KILL"}
			s.Process.Capabilities.Inheritable = []string{"CAP_KILL"}
		}, capMask(5)}, // execve as non-root keeps only the ambient set
		{"no capabilities", "grep CapEff /proc/self/status | cut -f2", func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{}
		}, capMask()},
		{"rlimits", "ulimit -n; ulimit -Hn; ulimit -c", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 200, Hard: 300}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 0}}
		}, "200\n300\n0"},
		// The limits bind ocirun's init too until the exec: an address space
		// below the Go runtime's made building the seccomp filter fail.
		{"rlimit below ocirun's own address space", "ulimit -v; ulimit -Hv", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_AS", Soft: 1 << 30, Hard: 2 << 30}}
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
				Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
				Syscalls:      []specs.LinuxSyscall{{Names: allSyscallsUpTo(t, 334), Action: specs.ActAllow}}}
		}, "1048576\n2097152"},
		{"rlimits for a non-root user", "ulimit -n; ulimit -Hn", func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000}
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 150}}
		}, "100\n150"},
		{"no_new_privs", "grep NoNewPrivs /proc/self/status | cut -f2", nil, "1"},
		{"no_new_privs off", "grep NoNewPrivs /proc/self/status | cut -f2", func(s *specs.Spec) { s.Process.NoNewPrivileges = false }, "0"},
		{"oom score", "cat /proc/self/oom_score_adj", func(s *specs.Spec) { v := 500; s.Process.OOMScoreAdj = &v }, "500"},
		{"only stdio reaches the container", "ls /proc/self/fd | tr '\\n' ' '", nil, "0 1 2 3 "}, // 3 is ls's own directory fd
		{"ioprio", "cat /proc/self/io 2>/dev/null >/dev/null; ionice -p $$ 2>/dev/null || echo none", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}
		}, "best-effort: prio 6"},
		{"sched", "grep -E '^policy' /proc/self/sched | tr -s ' '", func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch}
		}, "policy : 3"},
		{"personality", "uname -m", func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
		}, "i686"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			got := r.sh(tt.script, tt.mutate)
			if got != strings.TrimSpace(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPreserveFds(t *testing.T) {
	r := newRT(t)
	f, err := os.CreateTemp(t.TempDir(), "fd3")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("through fd 3")
	f.Seek(0, 0)
	b := bundle(t, []string{"sh", "-c", "cat <&3"}, nil)
	cmd := r.cmd("run", "--preserve-fds", "1", "--bundle", b, "pfd")
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.Output()
	if err != nil || string(out) != "through fd 3" {
		t.Fatalf("output %q, err %v", out, err)
	}
}

// TestListenFds: sockets systemd passed to ocirun for socket activation
// ($LISTEN_FDS, when $LISTEN_PID is ocirun's) reach the container's process
// first, before --preserve-fds, and it is told they are its own (as runc
// does); $LISTEN_PID naming another process passes nothing.
func TestListenFds(t *testing.T) {
	r := newRT(t)
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	b := bundle(t, []string{"sh", "-c", "echo fds=$LISTEN_FDS pid=$LISTEN_PID; readlink /proc/self/fd/3; readlink /proc/self/fd/4"}, nil)
	for _, tc := range []struct{ name, pid, preserve, want string }{
		{"ours", "$$", "1", "fds=1 pid=1\n/dev/null\n/dev/zero\n"},
		{"another's", "1", "0", "fds= pid=\n"},
	} {
		cmd := r.cmd("run", "--preserve-fds", tc.preserve, "--bundle", b, "listen")
		// The shell's pid is ocirun's once it execs it.
		cmd.Args = append([]string{"sh", "-c", "LISTEN_PID=" + tc.pid + ` LISTEN_FDS=1 exec "$0" "$@"`}, cmd.Args...)
		cmd.Path = "/bin/sh"
		cmd.ExtraFiles = []*os.File{null, zero}
		out, _ := cmd.Output()
		if string(out) != tc.want {
			t.Errorf("%s: output %q, want %q", tc.name, out, tc.want)
		}
		r.run("delete", "--force", "listen")
	}
}

func TestPidFileAndCreateWaitsForStart(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	b := bundle(t, []string{"sh", "-c", "echo started > /out/started"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Source: dir, Options: []string{"rbind", "rw"}})
	})
	r.ok("create", "--bundle", b, "w")
	if _, err := os.Stat(dir + "/started"); err == nil {
		t.Fatal("the process ran before start")
	}
	r.ok("start", "w")
	r.waitStatus("w", "stopped")
	if data, _ := os.ReadFile(dir + "/started"); strings.TrimSpace(string(data)) != "started" {
		t.Fatalf("the process did not run after start: %q", data)
	}
	r.ok("delete", "w")
}

// process.args are applied at start (runtime-spec runtime.md#create): create
// does not look for the binary, start reports that the exec failed, and a
// binary that appears between create and start is found through PATH.
func TestStartReportsExecFailure(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"/no/such/binary"}, nil)
	r.ok("create", "--bundle", b, "nx")
	res := r.run("start", "nx")
	if res.code == 0 || !strings.Contains(res.stderr, "/no/such/binary") || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
		t.Fatalf("start of a missing binary: exit %d, stderr %q", res.code, res.stderr)
	}
	r.waitStatus("nx", "stopped")
	r.ok("delete", "nx")

	late := t.TempDir()
	b = bundle(t, []string{"latebin"}, func(s *specs.Spec) {
		s.Process.Env = []string{"PATH=/nowhere:/late"}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/late", Source: late, Options: []string{"rbind", "rw"}})
	})
	r.ok("create", "--bundle", b, "late")
	if err := os.WriteFile(late+"/latebin", []byte("#!/bin/sh\necho ran > /late/out\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.ok("start", "late")
	r.waitStatus("late", "stopped")
	if data, _ := os.ReadFile(late + "/out"); string(data) != "ran\n" {
		t.Fatalf("the binary added after create did not run: %q", data)
	}
	r.ok("delete", "late")
	r.assertEmptyRoot()
}

// start reports a failed exec in Go's words, as the Go init would (the
// waiter is C, and musl's strerror words some errors otherwise: ELOOP).
func TestStartExecErrorsInGoWords(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	files := map[string]struct {
		data string
		mode os.FileMode
	}{
		"noexec":  {"#!/bin/sh\n", 0o644},
		"garbage": {"\x00\x01\x02\x03 not a program", 0o755},
	}
	for name, f := range files {
		if err := os.WriteFile(dir+"/"+name, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("loop2", dir+"/loop1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop1", dir+"/loop2"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ arg, want string }{
		{"/x/missing", `exec "/x/missing": no such file or directory`},
		{"/x/noexec", `exec "/x/noexec": permission denied`},
		{"/x/garbage", `exec "/x/garbage": exec format error`},
		{"/x/loop1", `exec "/x/loop1": too many levels of symbolic links`},
		{"missing-in-path", `exec: "missing-in-path": executable file not found in $PATH`},
	} {
		b := bundle(t, []string{tc.arg}, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: dir, Options: []string{"rbind", "ro"}})
		})
		r.ok("create", "--bundle", b, "ew")
		res := r.run("start", "ew")
		if res.code == 0 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("start of %s: exit %d, stderr %q, want %q", tc.arg, res.code, res.stderr, tc.want)
		}
		r.waitStatus("ew", "stopped")
		r.ok("delete", "ew")
	}
	r.assertEmptyRoot()
}

// A created container's init has the process's ids and groups in every
// thread: the parent-built pid 1 and the C waiter have one thread; a Go init
// that waits itself (here an address-space rlimit keeps the waiter out)
// switched all of its threads, so none of them is left as root while the
// container waits for start.
func TestWaitingInitCredentialsInEveryThread(t *testing.T) {
	r := newRT(t)
	for _, tc := range []struct {
		name   string
		init   string
		mutate func(*specs.Spec)
		waiter bool
	}{
		{"parent-built", "parent", func(*specs.Spec) {}, true},
		{"waiter", "go", func(*specs.Spec) {}, true},
		{"go init", "go", func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_AS", Hard: 1 << 40, Soft: 1 << 40})
		}, false},
	} {
		r.init = tc.init
		b := bundle(t, []string{"true"}, func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{5, 65534}}
			tc.mutate(s)
		})
		r.ok("create", "--bundle", b, "cred")
		pid := int(r.state("cred")["pid"].(float64))
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		if tc.waiter != (len(tasks) == 1) {
			t.Errorf("%s: %d threads in the waiting init", tc.name, len(tasks))
		}
		for _, task := range tasks {
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Uid:\t1000\t1000\t1000\t1000\n", "Gid:\t1001\t1001\t1001\t1001\n", "Groups:\t5 65534 \n"} {
				if !strings.Contains(string(status), want) {
					t.Errorf("%s: thread %s lacks %q:\n%s", tc.name, task.Name(), want, status)
				}
			}
		}
		r.ok("delete", "--force", "cred")
	}
	r.assertEmptyRoot()
}

// The process's user may not be allowed to run ocirun itself: an ocirun
// installed 0705, a process of uid 1000 and gid 0 (whose class is the
// group's, without x). The init then waits for start itself instead of
// handing over to the waiter (which that user could not exec).
func TestWaiterNotExecutableByTheUser(t *testing.T) {
	r := newRT(t)
	bin := copyBinary(t, 0o705)
	b := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 0} })
	for _, args := range [][]string{{"create", "--bundle", b, "grp"}, {"start", "grp"}} {
		// A file, not a pipe: the created container keeps its stdio open.
		out, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, append([]string{"--root", r.root}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			text, _ := os.ReadFile(out.Name())
			t.Fatalf("%s with ocirun 0705 and a process of gid 0: %v: %s", args[0], err, text)
		}
		out.Close()
	}
	r.waitStatus("grp", "stopped")
	r.ok("delete", "grp")
}

// A seccomp filter loaded without no_new_privs is loaded after the switch to
// the process's user: the switch (which under musl signals every thread
// with tkill) never runs under it. Both kinds of waiting init.
func TestSeccompWithoutNoNewPrivsAfterUserSwitch(t *testing.T) {
	r := newRT(t)
	for _, goInit := range []bool{false, true} {
		out := r.sh("id -u; id -G", func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5}}
			s.Process.NoNewPrivileges = false
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"tkill"}, Action: specs.ActErrno}}}
			if goInit {
				s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_AS", Hard: 1 << 40, Soft: 1 << 40})
			}
		})
		if out != "1000\n1000 5" {
			t.Errorf("go init %v: %q", goInit, out)
		}
	}
}

func TestNoHostFdLeaks(t *testing.T) {
	// An fd the caller leaked to ocirun without close-on-exec must not reach the container.
	r := newRT(t)
	f, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	b := bundle(t, []string{"sh", "-c", "ls /proc/self/fd | wc -l"}, nil)
	cmd := r.cmd("run", "--bundle", b, "leak")
	cmd.ExtraFiles = []*os.File{f, f, f}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != 4 { // 0, 1, 2 and ls's own
		t.Fatalf("the container sees %s fds, want 4", out)
	}
}
