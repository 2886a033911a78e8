package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bad input gives one line naming what is wrong, a non-zero exit, and leaves nothing behind.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string)
		substr string
	}{
		{"malformed config.json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion": "1.3.0", "process": `), 0o644)
		}, "config.json"},
		{"missing config.json", func(t *testing.T, dir string) {}, "config.json: no such file"},
		{"missing rootfs", func(t *testing.T, dir string) {
			s := specFor([]string{"true"})
			s.Root.Path = "/nonexistent/rootfs"
			writeSpec(t, dir, s)
		}, `root.path "/nonexistent/rootfs"`},
		{"unknown capability", func(t *testing.T, dir string) {
			s := specFor([]string{"true"})
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_BOGUS")
			writeSpec(t, dir, s)
		}, `process.capabilities.bounding: unknown capability "CAP_BOGUS"`},
		{"relative cwd", func(t *testing.T, dir string) {
			s := specFor([]string{"true"})
			s.Process.Cwd = "tmp"
			writeSpec(t, dir, s)
		}, `process.cwd "tmp"`},
		{"unknown rlimit", func(t *testing.T, dir string) {
			s := specFor([]string{"true"})
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}}
			writeSpec(t, dir, s)
		}, `process.rlimits[0].type "RLIMIT_BOGUS"`},
		{"unknown namespace", func(t *testing.T, dir string) {
			s := specFor([]string{"true"})
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			writeSpec(t, dir, s)
		}, `linux.namespaces[6].type "bogus"`},
		{"user namespace without mappings", func(t *testing.T, dir string) {
			s := specFor([]string{"true"})
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			writeSpec(t, dir, s)
		}, "linux.uidMappings"},
		{"host sysctl", func(t *testing.T, dir string) {
			s := specFor([]string{"true"})
			s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"}
			writeSpec(t, dir, s)
		}, `linux.sysctl "vm.swappiness"`},
		{"missing bind source", func(t *testing.T, dir string) {
			s := specFor([]string{"true"})
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "/no/such/dir", Options: []string{"bind"}})
			writeSpec(t, dir, s)
		}, `mounts[7].source "/no/such/dir"`},
		{"missing executable", func(t *testing.T, dir string) {
			writeSpec(t, dir, specFor([]string{"no-such-command"}))
		}, `"no-such-command": executable file not found`},
		{"failing mount", func(t *testing.T, dir string) {
			s := specFor([]string{"true"})
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "nosuchfs", Source: "none"})
			writeSpec(t, dir, s)
		}, `mount "none" on "/x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRT(t)
			dir := t.TempDir()
			tt.setup(t, dir)
			for _, cmd := range []string{"create", "run"} {
				if cmd == "create" && tt.name == "missing executable" {
					// process.args apply at start (runtime-spec runtime.md#create): only run fails.
					r.ok(cmd, "--bundle", dir, "bad")
					r.ok("delete", "--force", "bad")
					continue
				}
				res := r.run(cmd, "--bundle", dir, "bad")
				msg := strings.TrimSpace(res.stderr)
				if res.code == 0 || !strings.Contains(msg, tt.substr) || strings.Contains(msg, "\n") || strings.Contains(msg, "panic") {
					t.Fatalf("%s: exit %d, stderr %q: want one line containing %q", cmd, res.code, res.stderr, tt.substr)
				}
				r.assertEmptyRoot()
			}
		})
	}
}

func specFor(args []string) *specs.Spec {
	b := bundleSpec(args)
	return b
}

func bundleSpec(args []string) *specs.Spec {
	dir := testEnv.rootfs
	s := exampleSpec()
	s.Root.Path = dir
	s.Process.Terminal = false
	s.Process.Args = args
	return s
}

func TestDuplicateID(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, nil)
	r.ok("create", "--bundle", b, "dup")
	pid := r.state("dup")["pid"]
	// The second config mounts on a target its rootfs lacks: a create that
	// fails on the id must not have made it (the parent's builder thread
	// starts before the id is checked).
	target := fmt.Sprintf("/dup-target-%d", time.Now().UnixNano())
	t.Cleanup(func() { os.Remove(filepath.Join(testEnv.rootfs, target)) })
	b = bundle(t, []string{"sleep", "3600"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: target, Type: "tmpfs", Source: "tmpfs"})
	})
	res := r.run("create", "--bundle", b, "dup")
	if res.code == 0 || strings.TrimSpace(res.stderr) != "ocirun: container with id exists: dup" {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if r.state("dup")["pid"] != pid || r.status("dup") != "created" {
		t.Fatal("the failed create disturbed the existing container")
	}
	if _, err := os.Stat(filepath.Join(testEnv.rootfs, target)); err == nil {
		t.Errorf("the failed create made %s in the rootfs", target)
	}
	r.ok("delete", "--force", "dup")
	r.assertEmptyRoot()
}

func TestInvalidIDs(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, nil)
	for _, id := range []string{"../escape", "a/b", ".."} {
		if res := r.run("create", "--bundle", b, id); res.code == 0 || !strings.Contains(res.stderr, "invalid container id") {
			t.Errorf("id %q: exit %d, %q", id, res.code, res.stderr)
		}
	}
	r.assertEmptyRoot()
}

func TestDeleteForceCleansAStaleDirectory(t *testing.T) {
	r := newRT(t)
	// What a create killed before it wrote any state leaves behind.
	os.MkdirAll(filepath.Join(r.root, "stale"), 0o711)
	if res := r.run("delete", "stale"); res.code == 0 {
		t.Fatal("delete of a container without state succeeded without --force")
	}
	os.MkdirAll(filepath.Join(r.root, "stale"), 0o711)
	r.ok("delete", "--force", "stale")
	r.assertEmptyRoot()
	r.ok("delete", "--force", "never-existed")
}

func TestSpecCommand(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	r.ok("spec", "--bundle", dir)
	s := readSpec(t, dir)
	if s.Process == nil || !s.Process.NoNewPrivileges || s.Root.Path != "rootfs" || len(s.Linux.MaskedPaths) == 0 {
		t.Fatalf("spec: %+v", s)
	}
	if res := r.run("spec", "--bundle", dir); res.code == 0 || !strings.Contains(res.stderr, "exists") {
		t.Fatalf("spec over an existing config.json: exit %d, %q", res.code, res.stderr)
	}
	rootless := t.TempDir()
	r.ok("spec", "--rootless", "--bundle", rootless)
	s = readSpec(t, rootless)
	if len(s.Linux.UIDMappings) != 1 || s.Linux.Resources != nil {
		t.Fatalf("rootless spec: %+v", s.Linux)
	}
	// The default spec, with the test rootfs and no terminal, runs.
	s = readSpec(t, dir)
	s.Root.Path = testEnv.rootfs
	s.Process.Terminal = false
	s.Process.Args = []string{"true"}
	writeSpec(t, dir, s)
	r.ok("run", "--bundle", dir, "fromspec")
}

func TestVersion(t *testing.T) {
	r := newRT(t)
	out := strings.Split(r.ok("--version"), "\n")
	if !strings.HasPrefix(out[0], "ocirun version ") || out[1] != "spec: "+specs.Version {
		t.Fatalf("--version: %q", out)
	}
}

// CAP_SYS_RESOURCE is missing from this host's bounding sets: asking for it
// runs the container without it and warns, naming it (runtime-spec v1.3.0,
// config.md: capabilities that cannot be granted are logged as a warning and
// SHOULD NOT fail the runtime); the other capabilities are still given. An
// unknown name is still an error (TestBadInput).
func TestCapabilityOutsideOurBoundingSet(t *testing.T) {
	data, _ := os.ReadFile("/proc/self/status")
	var bnd uint64
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "CapBnd:") {
			bnd, _ = strconv.ParseUint(strings.TrimSpace(l[7:]), 16, 64)
		}
	}
	if bnd&(1<<24) != 0 {
		t.Skip("this host's bounding set has CAP_SYS_RESOURCE: nothing to leave out")
	}
	r := newRT(t)
	withSysResource := func(s *specs.Spec) {
		c := s.Process.Capabilities
		c.Bounding = append(c.Bounding, "CAP_SYS_RESOURCE")
		c.Effective = append(c.Effective, "CAP_SYS_RESOURCE")
		c.Permitted = append(c.Permitted, "CAP_SYS_RESOURCE")
	}
	res := r.runIn([]string{"sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status | cut -f2 | tr '\\n' ' '"}, withSysResource)
	if want := strings.Repeat(capMask(5, 10, 29)+" ", 2); res.code != 0 || res.stdout != want {
		t.Fatalf("exit %d, stdout %q (want %q), stderr %q", res.code, res.stdout, want, res.stderr)
	}
	if !strings.Contains(res.stderr, "left out: CAP_SYS_RESOURCE") {
		t.Fatalf("no warning naming CAP_SYS_RESOURCE: %q", res.stderr)
	}
	// exec --cap the same way.
	b := bundle(t, []string{"sleep", "3600"}, nil)
	r.ok("run", "-d", "--bundle", b, "val-capexec")
	ex := r.run("exec", "--cap", "CAP_SYS_RESOURCE", "val-capexec", "sh", "-c", "grep CapEff /proc/self/status | cut -f2")
	if ex.code != 0 || strings.TrimSpace(ex.stdout) != capMask(5, 10, 29) || !strings.Contains(ex.stderr, "CAP_SYS_RESOURCE") {
		t.Fatalf("exec --cap: exit %d, %q, %q", ex.code, ex.stdout, ex.stderr)
	}
	r.ok("delete", "--force", "val-capexec")
	r.assertEmptyRoot()
}

// A create killed half-way (during its createRuntime hook) leaves a stopped
// container that delete --force removes, with its cgroup and no init left.
func TestCreateKilledHalfWay(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "5"}}}}
	})
	cmd := r.cmd("create", "--bundle", b, "half")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.run("state", "half").code != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	pid := int(r.state("half")["pid"].(float64))
	cmd.Process.Kill()
	cmd.Wait()
	r.waitStatus("half", "stopped")
	if !processGone(pid) {
		t.Fatalf("the init %d outlived its create", pid)
	}
	r.ok("delete", "--force", "half")
	r.assertEmptyRoot()
	if _, err := os.Stat("/sys/fs/cgroup/pids/ocirun/half"); err == nil {
		t.Fatal("cgroup left behind")
	}
}

// config.json is read as encoding/json reads it, as runc does: a key that
// matches a field only by Unicode case folding ("ſ" is an "s") still sets
// it, here the hostname.
func TestConfigKeysFoldLikeEncodingJSON(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"cat", "/proc/sys/kernel/hostname"}, func(s *specs.Spec) { s.Hostname = "folded" })
	p := filepath.Join(b, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"hostname": `) {
		t.Fatalf("no hostname key in %s", data)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), `"hostname": `, `"hoſtname": `, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := r.ok("run", "--bundle", b, "fold"); strings.TrimSpace(out) != "folded" {
		t.Fatalf("hostname %q, want folded", out)
	}
}

// A create killed at any point leaves nothing that `delete --force` does
// not remove: killed after it made the cgroup but before it saved any state,
// only the state directory tells of it, and the cgroup is found by the path
// recorded there first. Kills are tried at 0.25 ms steps until some land in
// that window (the test fails if none does in 200).
func TestDeleteForceAfterCreateKilledAnywhere(t *testing.T) {
	unique := fmt.Sprintf("killed-%d", os.Getpid()) // another suite may run beside this one
	for _, tc := range []struct{ name, cgroupsPath string }{
		{"default cgroup", ""},
		{"cgroupsPath", "/ocirun-test-" + unique + "/c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRT(t)
			b := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Linux.CgroupsPath = tc.cgroupsPath })
			path := tc.cgroupsPath
			if path == "" {
				path = "/ocirun/" + unique
			}
			defer func() {
				dirs := cgroupDirs(path)
				if tc.cgroupsPath != "" { // the test's own parent too
					dirs = append(dirs, cgroupDirs(filepath.Dir(path))...)
				}
				for _, d := range dirs {
					os.Remove(d)
				}
			}()
			window, i := 0, 0
			for ; window < 3 && i < 200; i++ {
				delay := time.Duration(i%40) * 250 * time.Microsecond
				cmd := r.cmd("create", "--bundle", b, unique)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(delay)
				cmd.Process.Kill()
				cmd.Wait()
				_, noState := os.Stat(filepath.Join(r.root, unique, "state.json"))
				if len(cgroupDirs(path)) > 0 && noState != nil {
					window++
				}
				r.run("delete", "--force", unique)
				if left := cgroupDirs(path); len(left) > 0 {
					t.Fatalf("killed after %v: delete --force left %v", delay, left)
				}
				r.assertEmptyRoot()
			}
			if window == 0 {
				t.Fatalf("none of %d kills fell between the cgroup and the first state", i)
			}
			t.Logf("%d of %d kills fell between the cgroup and the first state", window, i)
		})
	}
}

// A stale directory with no record of a cgroup (its create was killed
// before it made one) leaves the cgroup of its id alone: under the default
// path it may be a container's of the same id under another --root.
func TestDeleteStaleWithoutRecordKeepsCgroups(t *testing.T) {
	r := newRT(t)
	id := fmt.Sprintf("norecord-%d", os.Getpid())
	other := newRT(t) // another --root
	b := bundle(t, []string{"true"}, nil)
	other.ok("run", "--bundle", b, "-d", id)
	other.waitStatus(id, "stopped") // its cgroup stays, empty, until its delete
	defer other.run("delete", "--force", id)
	if len(cgroupDirs("/ocirun/"+id)) == 0 {
		t.Fatal("the other root's stopped container has no cgroup to keep")
	}
	if err := os.MkdirAll(filepath.Join(r.root, id), 0o711); err != nil {
		t.Fatal(err)
	}
	r.ok("delete", "--force", id)
	r.assertEmptyRoot()
	if len(cgroupDirs("/ocirun/"+id)) == 0 {
		t.Fatal("delete of a stale directory removed another root's container's cgroup")
	}
}

// cgroupDirs lists the directories of a cgroup path in every hierarchy.
func cgroupDirs(path string) []string {
	var found []string
	mounts, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, m := range append(mounts, "/sys/fs/cgroup") {
		if fi, err := os.Lstat(m); err != nil || !fi.IsDir() {
			continue // cpu -> cpu,cpuacct and the like
		}
		if _, err := os.Stat(filepath.Join(m, path, "cgroup.procs")); err == nil {
			found = append(found, filepath.Join(m, path))
		}
	}
	return found
}

// A stale directory's cgroup that holds processes is another container's
// (here one that shares the linux.cgroupsPath): delete --force of the stale
// id leaves that cgroup, and the container in it, alone.
func TestDeleteForceStaleLeavesAnotherContainersCgroup(t *testing.T) {
	r := newRT(t)
	path := fmt.Sprintf("/ocirun-test-%d/shared", os.Getpid())
	b := bundle(t, []string{"sleep", "100"}, func(s *specs.Spec) { s.Linux.CgroupsPath = path })
	r.ok("run", "-d", "--bundle", b, "owner")
	defer func() {
		r.run("delete", "--force", "owner")
		for _, d := range append(cgroupDirs(path), cgroupDirs(filepath.Dir(path))...) {
			os.Remove(d)
		}
	}()
	stale := filepath.Join(r.root, "stale")
	if err := os.MkdirAll(stale, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path, filepath.Join(stale, "cgroup")); err != nil {
		t.Fatal(err)
	}
	res := r.run("delete", "--force", "stale")
	if res.code != 0 || !strings.Contains(res.stderr, "left in place") {
		t.Fatalf("delete --force stale: exit %d, %q", res.code, res.stderr)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale directory still there: %v", err)
	}
	if len(cgroupDirs(path)) == 0 {
		t.Fatal("the running container's cgroup was removed")
	}
	if s := r.status("owner"); s != "running" {
		t.Fatalf("owner is %s", s)
	}
}

// The command line as runc reads it, through the binary: a container may be
// named help (urfave/cli v2 would take it for the command's help); an
// alias's value reaches the command; two forms of one flag and an unknown
// flag are usage errors, with nothing created.
func TestCommandLineLikeRunc(t *testing.T) {
	r := newRT(t)
	r.running("help", nil)
	if st := r.state("help"); st["id"] != "help" || st["status"] != "running" {
		t.Fatalf("state help: %v", st)
	}
	r.ok("kill", "help", "KILL")
	r.waitStatus("help", "stopped")
	r.ok("delete", "help")
	if res := r.run("state", "help"); res.code == 0 || !strings.Contains(res.stderr, "does not exist") {
		t.Fatalf("state help after delete: exit %d, %q", res.code, res.stderr)
	}
	if res := r.run("delete", "--help"); res.code != 0 || !strings.Contains(res.stdout, "delete") {
		t.Errorf("delete --help: exit %d, %q", res.code, res.stdout)
	}
	b := bundle(t, []string{"true"}, nil)
	r.ok("create", "-b", b, "alias")
	if st := r.state("alias"); st["bundle"] != b {
		t.Fatalf("create -b: bundle %v, want %s", st["bundle"], b)
	}
	for _, args := range [][]string{
		{"create", "-b", b, "--bundle", b, "twice"},
		{"create", "--nosuch", "-b", b, "unknown"},
	} {
		res := r.run(args...)
		out := res.stdout + res.stderr
		if res.code == 0 || !strings.Contains(out, "Incorrect Usage") && !strings.Contains(out, "two forms") {
			t.Errorf("%q: exit %d, %q: want a usage error", args, res.code, out)
		}
		if res := r.run("state", args[len(args)-1]); res.code == 0 {
			t.Errorf("%q created its container", args)
		}
	}
	r.ok("delete", "--force", "alias")
}
