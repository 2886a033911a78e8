package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// criuBinary is the CRIU that works on this kernel: tests/criu/setup.sh
// finds or unpacks it and `make test` passes it in OCIRUN_CRIU.
func criuBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OCIRUN_CRIU")
	if p == "" {
		t.Skip("OCIRUN_CRIU is not set: `make test` sets it from tests/criu/setup.sh (a CRIU that passes `criu check` here)")
	}
	return p
}

// criuRT is a runtime whose commands name the test's CRIU.
func criuRT(t *testing.T) (*rt, func(args ...string) result) {
	r := newRT(t)
	criu := criuBinary(t)
	return r, func(args ...string) result {
		t.Helper()
		return r.run(append([]string{"--criu", criu}, args...)...)
	}
}

// counterBundle runs a counter that writes to /data/count on a bind mount
// of a host directory (an external mount for CRIU), with a child process
// whose container pid it records in /data/child. The counter appends: CRIU
// records the size of every regular file a process holds open, except one
// opened write-only for appending, and refuses to restore if it changed.
// With "echo $i > count" a checkpoint taken between the shell's truncating
// open and its write records size 0, and after --leave-running the original
// goes on writing, so that restore failed ("data/count has bad size 2").
func counterBundle(t *testing.T) (bundleDir, dataDir string) {
	dataDir = t.TempDir()
	script := `sleep 100000 & echo $! > /data/child; i=0; while :; do i=$((i+1)); echo $i >> /data/count; usleep 50000; done`
	bundleDir = bundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: dataDir, Options: []string{"rbind", "rw"}})
	})
	return bundleDir, dataDir
}

// startCounter runs a counter container detached and waits until it counts.
func startCounter(t *testing.T, r *rt, id string) (bundleDir, dataDir string) {
	t.Helper()
	bundleDir, dataDir = counterBundle(t)
	r.ok("run", "-d", "--bundle", bundleDir, id)
	waitCount(t, dataDir, 2)
	return bundleDir, dataDir
}

// readCount is the last number the counter appended.
func readCount(t *testing.T, dataDir string) int {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(dataDir, "count"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	n, _ := strconv.Atoi(lines[len(lines)-1])
	return n
}

// waitCount waits until the counter reaches at least n and returns it.
func waitCount(t *testing.T, dataDir string, n int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c := readCount(t, dataDir); c >= n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("counter stuck at %d, waiting for %d", readCount(t, dataDir), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nsPid is the pid of a host process inside its own pid namespace.
func nsPid(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "NSpid:" {
			return f[len(f)-1]
		}
	}
	t.Fatalf("no NSpid for %d", pid)
	return ""
}

// checkpointStopsCounter checkpoints id into dir and checks that the
// counter stopped, the images are there and the container is stopped.
func checkpointStopsCounter(t *testing.T, r *rt, criu func(...string) result, id, dir, dataDir string) int {
	t.Helper()
	start := time.Now()
	if res := criu("checkpoint", "--image-path", dir, id); res.code != 0 {
		t.Fatalf("checkpoint %s: exit %d: %s%s", id, res.code, res.stderr, criuLogTail(res.stderr))
	}
	t.Logf("checkpoint took %v", time.Since(start))
	if s := r.status(id); s != "stopped" {
		t.Fatalf("status after checkpoint: %s", s)
	}
	for _, img := range []string{"inventory.img", "pstree.img", "mountpoints-*.img", "pages-*.img"} {
		if m, _ := filepath.Glob(filepath.Join(dir, img)); len(m) == 0 {
			t.Fatalf("no %s in %s", img, dir)
		}
	}
	stopped := readCount(t, dataDir)
	time.Sleep(300 * time.Millisecond)
	if c := readCount(t, dataDir); c != stopped {
		t.Fatalf("counter went on after checkpoint: %d then %d", stopped, c)
	}
	return stopped
}

// restoreContinues restores id from dir and checks that the counter goes on
// from where the dump froze it, with the same pids inside the container.
// The dump froze it at stopped, or, for a dump that left it running,
// somewhere from stopped (the count before the dump) to upTo (the count
// when the dump returned); 0 for upTo means stopped.
func restoreContinues(t *testing.T, r *rt, criu func(...string) result, id, dir, dataDir string, stopped, upTo int, child string) {
	t.Helper()
	// Emptied, so that what it reads next is the restored counter's (it
	// appends: CRIU does not check the size of a file open for appending).
	if err := os.WriteFile(filepath.Join(dataDir, "count"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if res := criu("restore", "-d", "--image-path", dir, "--bundle", filepath.Dir(dir), id); res.code != 0 {
		t.Fatalf("restore %s: exit %d: %s%s", id, res.code, res.stderr, criuLogTail(res.stderr))
	}
	t.Logf("restore took %v", time.Since(start))
	st := r.state(id)
	if st["status"] != "running" {
		t.Fatalf("status after restore: %v", st["status"])
	}
	upTo = max(upTo, stopped)
	first := waitCount(t, dataDir, 1)
	// What it counts while restore returns and the state is read: +20.
	if first < stopped || first > upTo+20 {
		t.Fatalf("counter after restore at %d; the dump froze it at %d-%d (restarted from scratch?)", first, stopped, upTo)
	}
	waitCount(t, dataDir, first+3)
	pid := int(st["pid"].(float64))
	if p := nsPid(t, pid); p != "1" {
		t.Fatalf("restored init is pid %s in its namespace, want 1", p)
	}
	// In the container's own cgroup in every hierarchy, under its id (new or not).
	assertOwnCgroup(t, pid, id)
	// The child the counter started is there under the same container pid.
	out := r.ok("exec", id, "sh", "-c", "cat /proc/$(cat /data/child)/cmdline | tr '\\0' ' '")
	if !strings.HasPrefix(out, "sleep 100000") {
		t.Fatalf("child %s after restore: %q", child, out)
	}
}

func TestCheckpointRestore(t *testing.T) {
	r, criu := criuRT(t)
	b, data := counterBundle(t)
	r.ok("run", "-d", "--bundle", b, "ck")
	waitCount(t, data, 3)
	child, _ := os.ReadFile(filepath.Join(data, "child"))
	pid := int(r.state("ck")["pid"].(float64))
	if p := nsPid(t, pid); p != "1" {
		t.Fatalf("init is pid %s in its namespace", p)
	}

	dir1 := filepath.Join(b, "ck1")
	stopped := checkpointStopsCounter(t, r, criu, "ck", dir1, data)
	restoreContinues(t, r, criu, "ck", dir1, data, stopped, 0, string(child))

	// The restored container is like any other: pause, resume, exec, and a second checkpoint.
	r.ok("pause", "ck")
	if s := r.status("ck"); s != "paused" {
		t.Fatalf("status after pause: %s", s)
	}
	paused := readCount(t, data)
	time.Sleep(200 * time.Millisecond)
	if c := readCount(t, data); c != paused {
		t.Fatalf("counter went on while paused: %d then %d", paused, c)
	}
	r.ok("resume", "ck")
	waitCount(t, data, paused+2)
	dir2 := filepath.Join(b, "ck2")
	stopped = checkpointStopsCounter(t, r, criu, "ck", dir2, data)

	// Restore under a new id: the old stopped one stays as it was.
	restoreContinues(t, r, criu, "ck-new", dir2, data, stopped, 0, string(child))
	if s := r.status("ck"); s != "stopped" {
		t.Fatalf("old container after restore under a new id: %s", s)
	}
	cg := "/sys/fs/cgroup/pids/ocirun/ck-new"
	if _, err := os.Stat("/sys/fs/cgroup/pids"); err == nil {
		procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		newPid := strconv.Itoa(int(r.state("ck-new")["pid"].(float64)))
		if err != nil || !strings.Contains(string(procs), newPid) {
			t.Fatalf("restored init %s not in its own cgroup %s: %q %v", newPid, cg, procs, err)
		}
	}
	r.ok("kill", "ck-new", "KILL")
	r.waitStatus("ck-new", "stopped")
	r.ok("delete", "ck-new")
	r.ok("delete", "ck")
	r.assertEmptyRoot()
	if _, err := os.Stat(cg); err == nil {
		t.Fatalf("cgroup %s left behind", cg)
	}
}

func TestCheckpointLeaveRunning(t *testing.T) {
	r, criu := criuRT(t)
	b, data := startCounter(t, r, "lr")
	dir := filepath.Join(b, "img")
	// Far enough from 1 that a restore starting the script over shows.
	before := waitCount(t, data, 10)
	if res := criu("checkpoint", "--leave-running", "--image-path", dir, "lr"); res.code != 0 {
		t.Fatalf("checkpoint --leave-running: exit %d: %s%s", res.code, res.stderr, criuLogTail(res.stderr))
	}
	if s := r.status("lr"); s != "running" {
		t.Fatalf("status after checkpoint --leave-running: %s", s)
	}
	c := readCount(t, data)
	waitCount(t, data, c+3)
	if m, _ := filepath.Glob(filepath.Join(dir, "pages-*.img")); len(m) == 0 {
		t.Fatalf("no memory pages written to %s", dir)
	}
	// The images restore after the original is gone.
	r.ok("delete", "--force", "lr")
	// The dump froze the counter between before and c, where it went on.
	restoreContinues(t, r, criu, "lr", dir, data, before, c, "")
	r.ok("delete", "--force", "lr")
}

// A file the container holds open for appending (a log on a bind mount)
// may grow between checkpoint --leave-running and restore: CRIU skips its
// size check for such files, and the restored process appends after what
// was written meanwhile. The counter in counterBundle relies on this.
func TestCheckpointAppendedFileGrows(t *testing.T) {
	for _, tc := range []struct {
		name, redirect string
		restores       bool
	}{
		{"append", ">>", true},
		{"truncate", ">", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, criu := criuRT(t)
			data := t.TempDir()
			script := `exec 3` + tc.redirect + `/data/log; echo ready > /data/ready; while :; do if [ -e /data/go ]; then echo restored >&3; rm /data/go; fi; usleep 20000; done`
			b := bundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "rw"}})
			})
			id := "grow-" + tc.name
			r.ok("run", "-d", "--bundle", b, id)
			waitFile(t, filepath.Join(data, "ready"))
			dir := filepath.Join(b, "img")
			if res := criu("checkpoint", "--leave-running", "--image-path", dir, id); res.code != 0 {
				t.Fatalf("checkpoint --leave-running: exit %d: %s%s", res.code, res.stderr, criuLogTail(res.stderr))
			}
			r.ok("delete", "--force", id)
			if err := os.WriteFile(filepath.Join(data, "log"), []byte("written meanwhile\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			res := criu("restore", "-d", "--image-path", dir, "--bundle", b, id)
			if !tc.restores {
				// The error names the size check, in ocirun's message or, when
				// CRIU's later errors (its cgroupd thread's, on the way out)
				// pushed it out of the lines ocirun quotes, in the log.
				restoreLog, _ := os.ReadFile(filepath.Join(dir, "restore.log"))
				if res.code == 0 || !strings.Contains(res.stderr+string(restoreLog), "bad size") {
					t.Fatalf("restore with a grown file held open with O_TRUNC: exit %d: %s", res.code, res.stderr)
				}
				r.run("delete", "--force", id)
				return
			}
			if res.code != 0 {
				t.Fatalf("restore: exit %d: %s%s", res.code, res.stderr, criuLogTail(res.stderr))
			}
			defer r.run("delete", "--force", id)
			if err := os.WriteFile(filepath.Join(data, "go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, _ := os.ReadFile(filepath.Join(data, "log"))
				if string(got) == "written meanwhile\nrestored\n" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("log after restore: %q", got)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestCheckpointTCP(t *testing.T) {
	r, criu := criuRT(t)
	data := t.TempDir()
	// A listening server (its stdin a pipe that never ends, or nc leaves),
	// and a client connected to it through a fifo that the init holds open:
	// an established loopback connection.
	script := `ip link set lo up && mkfifo /tmp/f && (sleep 100000 | nc -l -p 8080 > /data/got &) && usleep 200000 &&
		(nc 127.0.0.1 8080 < /tmp/f &) && exec 3>/tmp/f && echo ready > /data/ready && exec sleep 100000`
	b := bundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "rw"}},
			specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
		caps := append(s.Process.Capabilities.Bounding, "CAP_NET_ADMIN")
		s.Process.Capabilities.Bounding, s.Process.Capabilities.Effective, s.Process.Capabilities.Permitted = caps, caps, caps
	})
	r.ok("run", "-d", "--bundle", b, "tcp")
	deadline := time.Now().Add(10 * time.Second)
	for !exists(filepath.Join(data, "ready")) {
		if time.Now().After(deadline) {
			t.Fatal("the container's server and client did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	dir := filepath.Join(b, "img")
	// Without --tcp-established CRIU refuses, and says why.
	res := criu("checkpoint", "--image-path", dir, "tcp")
	if res.code == 0 || !strings.Contains(res.stderr, "dump.log") || !strings.Contains(res.stderr, "tcp-established") {
		t.Fatalf("checkpoint of an established connection without --tcp-established: exit %d: %s", res.code, res.stderr)
	}
	if s := r.status("tcp"); s != "running" {
		t.Fatalf("a failed checkpoint left the container %s", s)
	}
	if res := criu("checkpoint", "--tcp-established", "--image-path", dir, "tcp"); res.code != 0 {
		t.Fatalf("checkpoint --tcp-established: exit %d: %s", res.code, res.stderr)
	}
	if res := criu("restore", "-d", "--tcp-established", "--image-path", dir, "--bundle", b, "tcp"); res.code != 0 {
		t.Fatalf("restore --tcp-established: exit %d: %s", res.code, res.stderr)
	}
	// Data written into the restored connection reaches the restored server.
	r.ok("exec", "tcp", "sh", "-c", "echo through-the-restored-connection > /tmp/f")
	deadline = time.Now().Add(10 * time.Second)
	for {
		got, _ := os.ReadFile(filepath.Join(data, "got"))
		if strings.Contains(string(got), "through-the-restored-connection") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server got %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.ok("delete", "--force", "tcp")
}

// A container with a terminal: CRIU restores the pty slave with a new
// master, which goes to restore's console socket, and the shell in the
// container reads and writes through it as before.
func TestCheckpointTerminal(t *testing.T) {
	r, criu := criuRT(t)
	data := t.TempDir()
	b := bundle(t, []string{"sh", "-c", `while read line; do echo "got:$line"; echo "$line" > /data/line; done`}, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "rw"}})
	})
	sock, got := consoleSocket(t)
	r.ok("run", "-d", "--console-socket", sock, "--bundle", b, "term")
	typeLine(t, receiveMaster(t, got), data, "before")
	dir := filepath.Join(b, "img")
	if res := criu("checkpoint", "--image-path", dir, "term"); res.code != 0 {
		t.Fatalf("checkpoint of a terminal container: exit %d: %s", res.code, res.stderr)
	}
	if res := criu("restore", "-d", "--image-path", dir, "--bundle", b, "term"); res.code == 0 || !strings.Contains(res.stderr, "console-socket") {
		t.Fatalf("restore of a terminal container without a console socket: exit %d: %s", res.code, res.stderr)
	}
	if res := criu("restore", "-d", "--console-socket", sock, "--image-path", dir, "--bundle", b, "term"); res.code != 0 {
		t.Fatalf("restore with --console-socket: exit %d: %s", res.code, res.stderr)
	}
	typeLine(t, receiveMaster(t, got), data, "after")
	r.ok("delete", "--force", "term")
}

// typeLine types a line on the pty master and waits for the container's
// shell to echo it back and write it to /data/line.
func typeLine(t *testing.T, master *os.File, data, line string) {
	t.Helper()
	if _, err := master.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out []byte
	buf := make([]byte, 1024)
	for !strings.Contains(string(out), "got:"+line) {
		n, err := master.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			t.Fatalf("read the terminal: %v (so far %q)", err, out)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := os.ReadFile(filepath.Join(data, "line"))
		if strings.TrimSpace(string(got)) == line {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container read %q from its terminal, want %q", got, line)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCheckpointPreDump(t *testing.T) {
	r, criu := criuRT(t)
	b, data := counterBundle(t)
	// No network namespace of its own: the counter needs none, and CRIU 4.2
	// cannot dump a network namespace's links on the 6.1 kernel of the VM
	// where this test runs (netlink: EINVAL), the one kernel here that
	// tracks dirty memory.
	spec := readSpec(t, b)
	var ns []specs.LinuxNamespace
	for _, n := range spec.Linux.Namespaces {
		if n.Type != specs.NetworkNamespace {
			ns = append(ns, n)
		}
	}
	spec.Linux.Namespaces = ns
	writeSpec(t, b, spec)
	r.ok("run", "-d", "--bundle", b, "pre")
	waitCount(t, data, 2)
	res := criu("checkpoint", "--pre-dump", "--image-path", filepath.Join(b, "pre"), "pre")
	if res.code != 0 && strings.Contains(res.stderr, "does not track dirty memory") {
		if s := r.status("pre"); s != "running" {
			t.Fatalf("a refused pre-dump left the container %s", s)
		}
		t.Skip("pre-dump needs soft-dirty memory tracking, which this kernel does not have (criu check --all: Dirty tracking is OFF); the refusal is checked")
	}
	if res.code != 0 {
		t.Fatalf("pre-dump: exit %d: %s%s", res.code, res.stderr, criuLogTail(res.stderr))
	}
	if s := r.status("pre"); s != "running" {
		t.Fatalf("status after pre-dump: %s", s)
	}
	dir := filepath.Join(b, "final")
	if res := criu("checkpoint", "--parent-path", "../pre", "--image-path", dir, "pre"); res.code != 0 {
		t.Fatalf("dump after pre-dump: exit %d: %s%s", res.code, res.stderr, criuLogTail(res.stderr))
	}
	if target, err := os.Readlink(filepath.Join(dir, "parent")); err != nil || target != "../pre" {
		t.Fatalf("the dump does not build on the pre-dump: parent link %q, %v", target, err)
	}
	stopped := readCount(t, data)
	restoreContinues(t, r, criu, "pre", dir, data, stopped, 0, "")
	r.ok("delete", "--force", "pre")
}

func TestCheckpointRefusals(t *testing.T) {
	r, criu := criuRT(t)
	b := bundle(t, []string{"true"}, nil)
	r.ok("run", "--keep", "--bundle", b, "done")
	res := criu("checkpoint", "--image-path", filepath.Join(b, "img"), "done")
	if res.code == 0 || !strings.Contains(res.stderr, "container not running") {
		t.Fatalf("checkpoint of a stopped container: exit %d: %s", res.code, res.stderr)
	}
	r.ok("delete", "done")
	b2 := bundle(t, []string{"sleep", "100"}, nil)
	r.ok("create", "--bundle", b2, "made")
	if res := criu("checkpoint", "--image-path", filepath.Join(b, "img"), "made"); res.code == 0 || !strings.Contains(res.stderr, "start it first") {
		t.Fatalf("checkpoint of a created container: exit %d: %s", res.code, res.stderr)
	}
	for _, bad := range [][]string{{"--manage-cgroups-mode", "sometimes"}, {"--empty-ns", "nope"}, {"--page-server", "nohost"}, {"--status-fd", "x"}} {
		res := criu(append(append([]string{"checkpoint"}, bad...), "made")...)
		if res.code == 0 || !strings.Contains(res.stderr, bad[0]) {
			t.Errorf("checkpoint %v: exit %d: %q", bad, res.code, res.stderr)
		}
	}
	r.ok("delete", "--force", "made")
	if res := r.run("--criu", "/nonexistent/criu", "checkpoint", "x"); res.code == 0 || !strings.Contains(res.stderr, "does not exist") {
		t.Fatalf("checkpoint of a missing container: exit %d: %s", res.code, res.stderr)
	}
	// Restore from a directory without a checkpoint, and from images with
	// a broken process tree: clear errors naming CRIU's log, nothing left.
	empty := t.TempDir()
	if res := criu("restore", "-d", "--image-path", empty, "--bundle", b, "none"); res.code == 0 || !strings.Contains(res.stderr, "no ocirun checkpoint") {
		t.Fatalf("restore from an empty directory: exit %d: %s", res.code, res.stderr)
	}
	bc, data := counterBundle(t)
	r.ok("run", "-d", "--bundle", bc, "broken")
	waitCount(t, data, 2)
	dir := filepath.Join(bc, "img")
	if res := criu("checkpoint", "--image-path", dir, "broken"); res.code != 0 {
		t.Fatalf("checkpoint: %s", res.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "pstree.img"), []byte("not an image"), 0o600); err != nil {
		t.Fatal(err)
	}
	res = criu("restore", "-d", "--image-path", dir, "--bundle", bc, "broken")
	if res.code == 0 || !strings.Contains(res.stderr, filepath.Join(dir, "restore.log")) {
		t.Fatalf("restore of broken images: exit %d: %s", res.code, res.stderr)
	}
	if out, _ := exec.Command("sh", "-c", "grep -c criu-root /proc/self/mountinfo").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("a failed restore left its root bind mounted: %s", out)
	}
	if !strings.Contains(res.stderr, "criu restore failed") {
		t.Fatalf("restore error does not say what failed: %s", res.stderr)
	}
	r.ok("delete", "--force", "broken") // the checkpointed one, stopped
	r.assertEmptyRoot()
}

func TestFeaturesCheckpoint(t *testing.T) {
	r, criu := criuRT(t)
	if out := criu("features").stdout; !strings.Contains(out, `"org.opencontainers.runc.checkpoint.enabled": "true"`) {
		t.Fatalf("features with a working CRIU: %s", out)
	}
	if out := r.ok("--criu", "/nonexistent/criu", "features"); !strings.Contains(out, `"org.opencontainers.runc.checkpoint.enabled": "false"`) {
		t.Fatalf("features without CRIU: %s", out)
	}
}

// criuLogTail returns the end of the CRIU log that an error message names,
// for a failure's report.
func criuLogTail(stderr string) string {
	_, rest, ok := strings.Cut(stderr, "(log: ")
	if !ok {
		return ""
	}
	path, _, _ := strings.Cut(rest, ")")
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return "\n" + path + ", its end:\n" + strings.Join(lines, "\n")
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// A restore joins the network namespace the config names again (CRIU's
// external namespace) and runs the prestart and createRuntime hooks with
// the restored init's pid, as create does.
func TestRestoreJoinedNetnsAndHooks(t *testing.T) {
	r, criu := criuRT(t)
	name := fmt.Sprintf("ocirun-ck-%d", time.Now().UnixNano())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add (iproute2): %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	nsPath := "/var/run/netns/" + name
	var nsIno string
	if fi, err := os.Stat(nsPath); err == nil {
		nsIno = fmt.Sprint(fi.Sys().(*syscall.Stat_t).Ino)
	}
	b, data := counterBundle(t)
	hooks := t.TempDir()
	spec := readSpec(t, b)
	for i, n := range spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i].Path = nsPath
		}
	}
	spec.Hooks = &specs.Hooks{
		Prestart:      []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + hooks + "/prestart"}}},
		CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + hooks + "/createRuntime"}}},
	}
	writeSpec(t, b, spec)
	r.ok("run", "-d", "--bundle", b, "joined")
	waitCount(t, data, 2)
	os.Remove(filepath.Join(hooks, "prestart"))
	os.Remove(filepath.Join(hooks, "createRuntime"))
	dir := filepath.Join(b, "img")
	stopped := checkpointStopsCounter(t, r, criu, "joined", dir, data)
	restoreContinues(t, r, criu, "joined", dir, data, stopped, 0, "")
	pid := int(r.state("joined")["pid"].(float64))
	if got := readlink(t, pid, "ns/net"); got != "net:["+nsIno+"]" {
		t.Fatalf("restored init's network namespace %s, want the joined one net:[%s]", got, nsIno)
	}
	for _, h := range []string{"prestart", "createRuntime"} {
		var st map[string]any
		data, err := os.ReadFile(filepath.Join(hooks, h))
		if err != nil || json.Unmarshal(data, &st) != nil {
			t.Fatalf("%s hook did not run at restore: %q %v", h, data, err)
		}
		if st["id"] != "joined" || int(st["pid"].(float64)) != pid {
			t.Fatalf("%s hook state %v; want id joined, pid %d", h, st, pid)
		}
	}
	r.ok("delete", "--force", "joined")
}

// TestRestoreTrustsOnlyItsBundle: a restore takes its config from the
// bundle, never from the images directory (a planted hook there must not
// run); the checkpoint description is not written through a planted
// symlink; and with --manage-cgroups-mode ignore the restored container
// is still in its own cgroup in every hierarchy.
func TestRestoreTrustsOnlyItsBundle(t *testing.T) {
	r, criu := criuRT(t)
	b, data := startCounter(t, r, "trust")
	dir := filepath.Join(b, "img")
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("untouched"), 0o644)
	os.MkdirAll(dir, 0o700)
	for _, name := range []string{"ocirun-checkpoint.json", ".ocirun-checkpoint.json.tmp"} {
		if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	stopped := checkpointStopsCounter(t, r, criu, "trust", dir, data)
	if got, _ := os.ReadFile(victim); string(got) != "untouched" {
		t.Fatalf("checkpoint wrote through a symlink in the images directory: %q", got)
	}
	// A hook planted in the saved description is not run, and without a
	// bundle (none given, no config.json here) restore refuses.
	info := filepath.Join(dir, "ocirun-checkpoint.json")
	saved, _ := os.ReadFile(info)
	var m map[string]any
	if err := json.Unmarshal(saved, &m); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "hook-ran")
	m["config"].(map[string]any)["hooks"] = map[string]any{"prestart": []any{map[string]any{"path": "/bin/sh", "args": []string{"sh", "-c", "touch " + marker}}}}
	planted, _ := json.Marshal(m)
	os.WriteFile(info, planted, 0o600)
	if res := criu("restore", "-d", "--image-path", dir, "trust"); res.code == 0 || !strings.Contains(res.stderr, "config.json") {
		t.Fatalf("restore without a bundle: exit %d: %s", res.code, res.stderr)
	}
	if exists(marker) {
		t.Fatal("restore ran a hook from the images directory")
	}
	// With the bundle, in ignore mode: the bundle's config (no hook), in the container's cgroups.
	start := time.Now()
	if res := criu("restore", "-d", "--manage-cgroups-mode", "ignore", "--image-path", dir, "--bundle", b, "trust"); res.code != 0 {
		t.Fatalf("restore --manage-cgroups-mode ignore: exit %d: %s%s", res.code, res.stderr, criuLogTail(res.stderr))
	}
	t.Logf("restore took %v", time.Since(start))
	if exists(marker) {
		t.Fatal("restore ran a hook from the images directory")
	}
	assertOwnCgroup(t, int(r.state("trust")["pid"].(float64)), "trust")
	waitCount(t, data, stopped+2)
	r.ok("delete", "--force", "trust")
}

// assertOwnCgroup checks that pid is in /ocirun/<id> in every hierarchy.
func assertOwnCgroup(t *testing.T, pid int, id string) {
	t.Helper()
	cgroups, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, line := range strings.Split(strings.TrimSpace(string(cgroups)), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) != 3 || parts[2] != "/ocirun/"+id {
			t.Fatalf("restored init's cgroup %q, want /ocirun/%s in every hierarchy:\n%s", line, id, cgroups)
		}
	}
}

// TestRestoreKilledHalfway: a restore killed while CRIU works (here during
// the prestart hook) leaves a container that `delete --force` removes
// whole: no state, no root bind, no cgroup.
func TestRestoreKilledHalfway(t *testing.T) {
	r, criu := criuRT(t)
	b, data := startCounter(t, r, "half")
	dir := filepath.Join(b, "img")
	checkpointStopsCounter(t, r, criu, "half", dir, data)
	r.ok("delete", "half")
	marker := filepath.Join(t.TempDir(), "in-hook")
	spec := readSpec(t, b)
	nap := fmt.Sprintf("59.%06d", time.Now().Nanosecond()/1000) // a name to find the orphaned hook by
	spec.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + marker + "; exec sleep " + nap}}}}
	writeSpec(t, b, spec)
	cmd := r.cmd("--criu", criuBinary(t), "restore", "-d", "--image-path", dir, "--bundle", b, "half")
	out := tempFile(t)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !exists(marker) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the restore never reached its prestart hook")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	exec.Command("pkill", "-f", "sleep "+nap).Run() // the hook outlives the killed restore, as with runc
	r.ok("delete", "--force", "half")
	r.assertEmptyRoot()
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), r.root) {
		t.Fatalf("a mount under the state root is left:\n%s", mounts)
	}
	if _, err := os.Stat("/sys/fs/cgroup/pids/ocirun/half"); err == nil {
		t.Fatal("the restore's cgroup is left")
	}
}

// TestCheckpointFlags: the CRIU flags reach CRIU. --work-path gets the
// logs (the images directory does not); --file-locks, --ext-unix-sk,
// --shell-job and --auto-dedup are accepted by CRIU on a real dump; the
// restore writes its log to its own --work-path.
func TestCheckpointFlags(t *testing.T) {
	r, criu := criuRT(t)
	b, data := startCounter(t, r, "flags")
	dir, work := filepath.Join(b, "img"), filepath.Join(b, "work")
	start := readCount(t, data)
	if res := criu("checkpoint", "--image-path", dir, "--work-path", work, "--file-locks", "--ext-unix-sk",
		"--shell-job", "--auto-dedup", "flags"); res.code != 0 {
		t.Fatalf("checkpoint with flags: exit %d: %s%s", res.code, res.stderr, criuLogTail(res.stderr))
	}
	if !exists(filepath.Join(work, "dump.log")) || exists(filepath.Join(dir, "dump.log")) {
		t.Fatal("--work-path: dump.log is not in the work directory alone")
	}
	rwork := filepath.Join(b, "rwork")
	if res := criu("restore", "-d", "--image-path", dir, "--work-path", rwork, "--file-locks", "--ext-unix-sk",
		"--bundle", b, "flags"); res.code != 0 {
		t.Fatalf("restore with flags: exit %d: %s%s", res.code, res.stderr, criuLogTail(res.stderr))
	}
	if !exists(filepath.Join(rwork, "restore.log")) {
		t.Fatal("--work-path: no restore.log in the restore's work directory")
	}
	waitCount(t, data, start+3)
	r.ok("delete", "--force", "flags")
}

// TestRestoreForeground: without -d, restore waits for the restored
// container, exits with its status and removes it, as run does.
func TestRestoreForeground(t *testing.T) {
	r, criu := criuRT(t)
	data := t.TempDir()
	b := bundle(t, []string{"sh", "-c", "touch /data/up; while [ ! -f /data/stop ]; do usleep 20000; done; exit 7"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "rw"}})
	})
	r.ok("run", "-d", "--bundle", b, "fg")
	for deadline := time.Now().Add(10 * time.Second); !exists(filepath.Join(data, "up")); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the container did not start")
		}
	}
	dir := filepath.Join(b, "img")
	if res := criu("checkpoint", "--image-path", dir, "fg"); res.code != 0 {
		t.Fatalf("checkpoint: %s", res.stderr)
	}
	cmd := r.cmd("--criu", criuBinary(t), "restore", "--image-path", dir, "--bundle", b, "fg")
	out := tempFile(t)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Restore of the same id removes the checkpointed (stopped) container
	// first: until the new state is saved, the id does not exist.
	running := func() bool {
		res := r.run("state", "fg")
		return res.code == 0 && strings.Contains(res.stdout, `"running"`)
	}
	for deadline := time.Now().Add(10 * time.Second); !running(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the restored container is not running")
		}
	}
	os.WriteFile(filepath.Join(data, "stop"), nil, 0o644)
	if !waitOrKill(cmd, 20*time.Second) {
		t.Fatal("foreground restore did not return after the container exited")
	}
	if code := cmd.ProcessState.ExitCode(); code != 7 {
		msg, _ := os.ReadFile(out.Name())
		t.Fatalf("foreground restore exited %d, want the container's 7: %s", code, msg)
	}
	r.assertEmptyRoot()
}
