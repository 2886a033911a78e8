package tests

import (
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// waitFile waits for a file the container writes and returns its trimmed content.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	for i := 0; i < 500; i++ {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			return strings.TrimSpace(string(data))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return ""
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// TestCVE20195736 reproduces the runc escape: the container makes `exec`
// run a script whose interpreter is /proc/self/exe, i.e. the runtime's own
// binary, keeps a handle on it, and writes through it once the runtime
// process is gone. ocirun's init runs from a sealed handle, so the write
// fails and the host binary is unchanged.
func TestCVE20195736(t *testing.T) {
	// Attack a copy of the binary, so a regression cannot break the other tests.
	victim := copyBinary(t, 0o755)
	before := fileHash(t, victim)
	r := newRT(t)
	runV := func(args ...string) result {
		saved := testEnv.bin
		testEnv.bin = victim
		defer func() { testEnv.bin = saved }()
		return r.run(args...)
	}
	report := t.TempDir()
	b := bundle(t, []string{"sleep", "3600"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/attack", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/report", Source: report, Options: []string{"rbind"}})
		// A rootfs with the host's libraries, like any distro image: ocirun's
		// binary (dynamically linked) can then run inside the container.
		for _, lib := range []string{"/lib", "/lib64"} {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: lib, Source: lib, Options: []string{"rbind", "ro"}})
		}
	})
	if res := runV("run", "-d", "--bundle", b, "victim"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	if res := runV("exec", "victim", "sh", "-c", "printf '#!/proc/self/exe init\\n' > /attack/evil.sh && chmod +x /attack/evil.sh"); res.code != 0 {
		t.Fatal(res.stderr)
	}

	// 1. The attacker waits for a process running the script, grabs a handle
	//    on its exe, waits for it to exit (so the file is no longer busy),
	//    then writes through the handle. It runs detached, so that no
	//    ocirun process on the host keeps the binary busy, and reports
	//    through a directory shared with the host.
	script := `for i in $(seq 250); do
  for p in /proc/[0-9]*; do grep -q 'evil[.]sh' $p/cmdline 2>/dev/null && pid=${p#/proc/}; done
  [ -n "$pid" ] && break; sleep 0.02
done
[ -n "$pid" ] || { echo NOPROC > /report/status; exit 0; }
exec 9</proc/$pid/exe || { echo NOHANDLE > /report/status; exit 0; }
echo GOT-HANDLE > /report/status
while kill -0 $pid 2>/dev/null; do sleep 0.02; done
sleep 0.5 # let the host's ocirun processes exit too
if echo PWNED 2>/dev/null >/proc/self/fd/9; then echo WROTE > /report/result; else echo BLOCKED > /report/result; fi`
	if res := runV("exec", "-d", "victim", "sh", "-c", script); res.code != 0 {
		t.Fatal(res.stderr)
	}

	// 2. The script runs with the runtime's binary as interpreter; it blocks
	//    reading fd 3 (a pipe we hold), as if the runtime were still at work.
	pr, pw, _ := os.Pipe()
	evil := r.cmd("exec", "--preserve-fds", "1", "-e", "_OCIRUN_INITPIPE=3", "victim", "/attack/evil.sh")
	evil.Path = victim
	evil.ExtraFiles = []*os.File{pr}
	var evilErr strings.Builder
	evil.Stderr = &evilErr
	if err := evil.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	defer evil.Process.Kill()

	status := waitFile(t, filepath.Join(report, "status"))
	pw.Close() // the "runtime" process exits
	evil.Wait()
	switch status {
	case "GOT-HANDLE":
		if got := waitFile(t, filepath.Join(report, "result")); got != "BLOCKED" {
			t.Errorf("attacker wrote through the runtime's exe: %q", got)
		}
	case "NOPROC":
		t.Fatalf("the script never ran: %s", evilErr.String())
	default:
		t.Errorf("attacker: %q", status)
	}
	if fileHash(t, victim) != before {
		t.Fatal("the host's ocirun binary was overwritten from inside the container")
	}
	done := make(chan struct{})
	go func() { runV("delete", "--force", "victim"); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("delete hung")
	}
}

// hostileRootfs copies the busybox rootfs and lets the test plant things in it.
func hostileRootfs(t *testing.T, plant func(root string)) string {
	t.Helper()
	root := t.TempDir()
	if err := copyTree(testEnv.rootfs, root); err != nil {
		t.Fatal(err)
	}
	plant(root)
	return root
}

func withoutDevTmpfs(s *specs.Spec) {
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if m.Destination != "/dev" {
			mounts = append(mounts, m)
		}
	}
	s.Mounts = mounts
}

// TestCVE202531133 plants /dev/null as a symlink to a procfs file in a rootfs
// whose /dev is not a fresh tmpfs: masking must not bind that file over the
// masked paths, where the container could then write to it.
func TestCVE202531133(t *testing.T) {
	r := newRT(t)
	corePattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	root := hostileRootfs(t, func(root string) {
		os.MkdirAll(filepath.Join(root, "dev"), 0o755)
		os.Symlink("/proc/sys/kernel/core_pattern", filepath.Join(root, "dev", "null"))
	})
	out := r.sh("stat -c %F:%t:%T /dev/null; stat -c %F:%t:%T /proc/timer_list; wc -c < /proc/timer_list", func(s *specs.Spec) {
		s.Root.Path = root
		s.Root.Readonly = false
		withoutDevTmpfs(s)
	})
	if out != "character special file:1:3\ncharacter special file:1:3\n0" {
		t.Fatalf("got %q", out)
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); string(now) != string(corePattern) {
		t.Fatalf("core_pattern changed to %q", now)
	}
}

// TestCVE202552565 plants /dev/console as a symlink to a procfs file: the pty
// must never be mounted through it.
func TestCVE202552565(t *testing.T) {
	r := newRT(t)
	corePattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	root := hostileRootfs(t, func(root string) {
		os.MkdirAll(filepath.Join(root, "dev"), 0o755)
		os.Symlink("/proc/sys/kernel/core_pattern", filepath.Join(root, "dev", "console"))
	})
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			time.Sleep(5 * time.Second)
			c.Close()
		}
	}()
	b := bundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Root.Path = root
		s.Root.Readonly = false
		s.Process.Terminal = true
		withoutDevTmpfs(s)
	})
	res := r.run("create", "--console-socket", sock, "--bundle", b, "console")
	if res.code == 0 || !strings.Contains(res.stderr, "/dev/console") {
		t.Fatalf("exit %d, stderr %q: want a refusal naming /dev/console", res.code, res.stderr)
	}
	r.assertEmptyRoot()
	if now, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); string(now) != string(corePattern) {
		t.Fatalf("core_pattern changed to %q", now)
	}
}

// TestCVE202421626 leaks a host directory fd into the container (as a
// preserved fd) and points process.cwd at it: the process must not start
// with a working directory outside its root.
func TestCVE202421626(t *testing.T) {
	r := newRT(t)
	hostDir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer hostDir.Close()
	for _, preserve := range []string{"0", "1"} {
		b := bundle(t, []string{"sh", "-c", "pwd; ls .."}, func(s *specs.Spec) { s.Process.Cwd = "/proc/self/fd/3" })
		cmd := r.cmd("run", "--preserve-fds", preserve, "--bundle", b, "cwd"+preserve)
		cmd.ExtraFiles = []*os.File{hostDir}
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "process.cwd") {
			t.Errorf("--preserve-fds %s: exit %d, output %q", preserve, cmd.ProcessState.ExitCode(), out)
		}
	}
	r.assertEmptyRoot()
	// exec checks the same.
	r.running("cwdexec", nil)
	cmd := r.cmd("exec", "--preserve-fds", "1", "--cwd", "/proc/self/fd/3", "cwdexec", "pwd")
	cmd.ExtraFiles = []*os.File{hostDir}
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 255 || !strings.Contains(string(out), "outside the container's root") {
		t.Errorf("exec: exit %d, output %q", cmd.ProcessState.ExitCode(), out)
	}
}

// TestPreserveFdsHoleRefused: --preserve-fds names fds our caller did not
// open; the numbers are then filled by ocirun's own files (its state
// directory, the cgroup root), which must not reach the container.
func TestPreserveFdsHoleRefused(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"ls", "-l", "/proc/self/fd/"}, nil)
	for _, preserve := range []string{"1", "3"} {
		res := r.run("run", "--preserve-fds", preserve, "--bundle", b, "hole"+preserve)
		if res.code == 0 || !strings.Contains(res.stderr, "--preserve-fds: fd 3 ") {
			t.Errorf("--preserve-fds %s without fds: exit %d, stdout %q, stderr %q", preserve, res.code, res.stdout, res.stderr)
		}
	}
	r.assertEmptyRoot()
	// An fd the caller does pass still goes through.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := r.cmd("run", "--preserve-fds", "1", "--bundle", bundle(t, []string{"readlink", "/proc/self/fd/3"}, nil), "passed")
	cmd.ExtraFiles = []*os.File{f}
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "/dev/null" {
		t.Errorf("a passed fd: %v, %q", err, out)
	}
}

// TestCVE202552881 mounts a decoy file over a sysctl's /proc path: the sysctl
// write must reach the kernel through a private procfs, not the decoy.
func TestCVE202552881(t *testing.T) {
	r := newRT(t)
	decoy := filepath.Join(t.TempDir(), "decoy")
	os.WriteFile(decoy, []byte("decoy\n"), 0o644)
	r.sh("true", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/sys/net/ipv4/ip_forward", Source: decoy, Options: []string{"bind"}})
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	})
	if data, _ := os.ReadFile(decoy); string(data) != "decoy\n" {
		t.Fatalf("the sysctl write was redirected into the decoy: %q", data)
	}
}

func TestDefaultSpecIsSafe(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	r.ok("spec", "--bundle", dir)
	s := readSpec(t, dir)
	s.Root.Path = testEnv.rootfs
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status | cut -f2; wc -c < /proc/timer_list; touch /proc/sysrq-trigger 2>/dev/null || echo ro"}
	writeSpec(t, dir, s)
	out := r.ok("run", "--bundle", dir, "safe")
	if strings.TrimSpace(out) != capMask(5, 10, 29)+"\n1\n0\nro" {
		t.Fatalf("got %q", out)
	}
}

// AppArmor: this host has no AppArmor, so a profile must be refused, never ignored.
func TestAppArmorProfileNotIgnored(t *testing.T) {
	if data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err == nil && strings.HasPrefix(string(data), "Y") {
		t.Skip("AppArmor is enabled here: confinement itself needs a loaded profile, not tested")
	}
	r := newRT(t)
	b := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Process.ApparmorProfile = "ocirun-test" })
	if res := r.run("run", "--bundle", b, "aa"); res.code == 0 || !strings.Contains(res.stderr, "AppArmor is not enabled") {
		t.Fatalf("run: exit %d, %q", res.code, res.stderr)
	}
	r.assertEmptyRoot()
	r.running("aax", nil)
	if res := r.run("exec", "--apparmor", "ocirun-test", "aax", "true"); res.code != 255 || !strings.Contains(res.stderr, "AppArmor is not enabled") {
		t.Fatalf("exec --apparmor: exit %d, %q", res.code, res.stderr)
	}
}

// TestCreatedInitKeepsHostFds leaks a host directory into `ocirun create`
// (an fd its caller left open, not a preserved one) and lets a process in
// the container, while the container is created, try to reach it through
// the init's /proc/1/fd (CVE-2016-9962's class): the leaked fd must not be
// in the init, and the init must not be dumpable, so /proc/1/fd is closed to
// the container. Both ways of waiting: the C waiter, and the Go init (an
// RLIMIT_NPROC keeps the Go init waiting itself).
func TestCreatedInitKeepsHostFds(t *testing.T) {
	r := newRT(t)
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "secret"), []byte("host-secret"), 0o600)
	dir, err := os.Open(hostDir)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	for name, mutate := range map[string]func(*specs.Spec){
		"waiter": nil,
		"go-init": func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NPROC", Hard: 4096, Soft: 4096})
		},
	} {
		b := bundle(t, []string{"true"}, mutate)
		cmd := r.cmd("create", "--bundle", b, "leak-"+name)
		cmd.ExtraFiles = []*os.File{dir} // fd 3, not preserved
		out := tempFile(t)               // not a pipe: the created container keeps its stdio
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			msg, _ := os.ReadFile(out.Name())
			t.Fatalf("%s: create: %v: %s", name, err, msg)
		}
		res := r.run("exec", "leak-"+name, "sh", "-c",
			`for f in /proc/1/fd/*; do cat "$f/secret" 2>/dev/null; readlink "$f"; done; echo fds: $(ls /proc/1/fd); cat /proc/1/environ >/dev/null 2>&1 && echo environ-readable`)
		if strings.Contains(res.stdout, "host-secret") || strings.Contains(res.stdout, "environ-readable") {
			t.Fatalf("%s: the container reached the created init's fds or memory: %q", name, res.stdout)
		}
		// The names may be listed (root owns the directory), never followed.
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "fds:") {
			t.Fatalf("%s: the created init's fds can be followed from the container: %q %q", name, res.stdout, res.stderr)
		}
		if strings.Contains(" "+lines[0]+" ", " 3 ") {
			t.Fatalf("%s: the fd leaked to create reached the init: %s", name, lines[0])
		}
		r.ok("delete", "--force", "leak-"+name)
	}
}

// TestCreateContainerHookInMemoryCgroup: a createContainer hook runs inside
// the container while it is set up; it, and anything it leaves running, is
// under the container's memory cgroup.
func TestCreateContainerHookInMemoryCgroup(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		t.Skip("no v1 memory hierarchy (the late join exists only there)")
	}
	r := newRT(t)
	data := t.TempDir()
	b := bundle(t, []string{"true"}, func(s *specs.Spec) {
		var mounts []specs.Mount
		for _, m := range s.Mounts {
			if m.Type != "cgroup" && m.Type != "cgroup2" { // no cgroupfs: the memory cgroup would be joined late
				mounts = append(mounts, m)
			}
		}
		s.Mounts = mounts
		var ns []specs.LinuxNamespace // no cgroup namespace either: it too makes the join early
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.CgroupNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
		// Before pivot_root: the hook sees the host's paths, in the container's namespaces.
		s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat /proc/self/cgroup > " + data + "/cgroup"}}}}
	})
	r.ok("run", "--bundle", b, "hookcg")
	got, _ := os.ReadFile(filepath.Join(data, "cgroup"))
	if !strings.Contains(string(got), ":memory:/ocirun/hookcg\n") {
		t.Fatalf("createContainer hook's cgroups:\n%s", got)
	}
}

// TestSealedExeIsNoCopy: the init runs from our binary seen through a
// read-only overlay, not from a copy of it, wherever the binary and the
// state root are: a copy costs a write of the whole binary at every create.
// overlayfs refuses a layer inside another (ELOOP), so a root inside the
// binary's directory (as for a binary in /) takes an empty tmpfs as its
// second layer; a ':' in the directory must not split the layer list.
func TestSealedExeIsNoCopy(t *testing.T) {
	cases := []struct{ name, dir, root string }{
		{"root apart", "bin", "state"},
		{"root inside the binary's directory", "bin", "bin/state"},
		{"a colon and a backslash in the directory", `bin:x\y`, "state"},
		{"both", `bin:x\y`, `bin:x\y/state`},
	}
	for _, tc := range cases {
		for _, init := range []string{"parent", "go"} {
			t.Run(tc.name+"/"+init, func(t *testing.T) {
				if strings.HasPrefix(tc.root, tc.dir+"/") && !kernelAtLeast(t, 6, 15) {
					t.Skip("overlayfs takes a detached tmpfs as a layer from Linux 6.15 (clone_private_mount); before, this layout copies the binary")
				}
				base := t.TempDir()
				data, err := os.ReadFile(testEnv.bin)
				if err != nil {
					t.Fatal(err)
				}
				bin := filepath.Join(base, tc.dir, "ocirun")
				if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(bin, data, 0o755); err != nil {
					t.Fatal(err)
				}
				r := newRT(t)
				r.root, r.init = filepath.Join(base, tc.root), init
				saved := testEnv.bin
				testEnv.bin = bin
				t.Cleanup(func() { testEnv.bin = saved })
				r.ok("create", "--bundle", bundle(t, []string{"true"}, nil), "sealed")
				pid := int(r.state("sealed")["pid"].(float64))
				exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
				if err != nil {
					t.Fatal(err)
				}
				// The binary at the root of a mount attached nowhere: not the
				// host's file, not a memfd copy.
				if exe != "/ocirun" {
					t.Errorf("the init runs from %q, not from our binary through a detached overlay", exe)
				}
				r.ok("delete", "--force", "sealed")
			})
		}
	}
}

// kernelAtLeast reports whether the running kernel is at least major.minor.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var maj, min int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &maj, &min)
	return maj > major || maj == major && min >= minor
}
