package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunHelloBundle(t *testing.T) {
	r := newRT(t)
	res := r.run("run", "--bundle", "../bundles/hello", "hello")
	if res.code != 0 || !strings.Contains(res.stdout, "Hello from inside an ocirun container: ocirun, pid 1, uid 0") {
		t.Fatalf("exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	r.assertEmptyRoot()
}

func TestLifecycle(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.ok("create", "--bundle", b, "--pid-file", pidFile, "life")

	st := r.state("life")
	if st["status"] != "created" || st["id"] != "life" || st["bundle"] != b || st["ociVersion"] != specs.Version {
		t.Fatalf("state after create: %v", st)
	}
	pid := int(st["pid"].(float64))
	data, err := os.ReadFile(pidFile)
	if err != nil || string(data) != strconv.Itoa(pid) {
		t.Fatalf("pid file %q (err %v), state pid %d: want the pid with no newline", data, err, pid)
	}
	if _, ok := st["created"]; !ok {
		t.Fatalf("state has no created time: %v", st)
	}
	// The waiting init is already the container's pid 1 in its own namespaces.
	if self, _ := os.Readlink("/proc/self/ns/pid"); self == readlink(t, pid, "ns/pid") {
		t.Fatal("init shares the host's pid namespace")
	}

	r.ok("start", "life")
	if s := r.status("life"); s != "running" {
		t.Fatalf("status after start: %s", s)
	}
	if res := r.run("start", "life"); res.code == 0 {
		t.Fatal("a second start succeeded")
	}
	if res := r.run("delete", "life"); res.code == 0 || !strings.Contains(res.stderr, "not stopped") {
		t.Fatalf("delete of a running container: exit %d, %q", res.code, res.stderr)
	}

	r.ok("kill", "life", "KILL")
	r.waitStatus("life", "stopped")
	if res := r.run("kill", "life"); res.code == 0 || !strings.Contains(res.stderr, "container not running") {
		t.Fatalf("kill of a stopped container: exit %d, %q", res.code, res.stderr)
	}
	r.ok("delete", "life")

	if !processGone(pid) {
		t.Fatalf("init %d still exists after delete", pid)
	}
	r.assertEmptyRoot()
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), testEnv.rootfs) {
		t.Fatal("a mount of the rootfs leaked into the host's mount namespace")
	}
	if res := r.run("state", "life"); res.code == 0 || !strings.Contains(res.stderr, "does not exist") {
		t.Fatalf("state after delete: exit %d, %q", res.code, res.stderr)
	}
}

// processGone reports whether pid has exited: no such process, or a zombie
// waiting for the host's pid 1 (which is not ours to hurry) to reap it.
func processGone(pid int) bool {
	for i := 0; i < 100; i++ {
		data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(data), ')'); i > 0 && len(data) > i+2 && data[i+2] == 'Z' {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestRunKilledBySignal(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, nil)
	cmd := r.cmd("run", "--bundle", b, "killed")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.run("state", "killed").code != 0 || r.status("killed") != "running" {
		if time.Now().After(deadline) {
			t.Fatal("container never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.ok("kill", "killed", "9")
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 137 {
		t.Fatalf("run exit %d after SIGKILL, want 137", code)
	}
	r.assertEmptyRoot()
}

func readlink(t *testing.T, pid int, name string) string {
	t.Helper()
	l, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), name))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRunExitStatus(t *testing.T) {
	r := newRT(t)
	tests := []struct {
		script string
		code   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"sleep 3600 & kill -9 $!; wait $!", 137}, // a child's status through the shell
	}
	for _, tt := range tests {
		if res := r.runIn([]string{"sh", "-c", tt.script}, nil); res.code != tt.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.script, res.code, tt.code, res.stderr)
		}
	}
	r.assertEmptyRoot()
}

func TestRunForwardsSignals(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; while true; do sleep 0.05; done"}, nil)
	cmd := r.cmd("run", "--bundle", b, "sig")
	out := startReady(t, cmd)
	cmd.Process.Signal(syscall.SIGTERM)
	rest := make([]byte, 64)
	n, _ := out.Read(rest)
	cmd.Wait()
	if cmd.ProcessState.ExitCode() != 42 || !strings.Contains(string(rest[:n]), "got-term") {
		t.Fatalf("exit %d, output %q: SIGTERM was not forwarded", cmd.ProcessState.ExitCode(), rest[:n])
	}
	r.assertEmptyRoot()
}

func TestRunDetached(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, nil)
	r.ok("run", "-d", "--bundle", b, "det")
	if s := r.status("det"); s != "running" {
		t.Fatalf("status after run -d: %s", s)
	}
	r.ok("delete", "--force", "det")
	r.assertEmptyRoot()
}

func TestKillSignalForms(t *testing.T) {
	r := newRT(t)
	for _, sig := range []string{"KILL", "SIGKILL", "9"} {
		b := bundle(t, []string{"sleep", "3600"}, nil)
		r.ok("run", "-d", "--bundle", b, "k"+sig)
		r.ok("kill", "k"+sig, sig)
		r.waitStatus("k"+sig, "stopped")
		r.ok("delete", "k"+sig)
	}
	// Default TERM, to every process with --all.
	b := bundle(t, []string{"sh", "-c", "sleep 3600 & sleep 3600 & wait"}, nil)
	r.ok("run", "-d", "--bundle", b, "all")
	r.ok("kill", "--all", "all", "KILL")
	r.waitStatus("all", "stopped")
	r.ok("delete", "all")
	if res := r.run("kill", "nosuch"); res.code == 0 || !strings.Contains(res.stderr, "does not exist") {
		t.Fatalf("kill of a missing container: exit %d, %q", res.code, res.stderr)
	}
	r.assertEmptyRoot()
}

func TestDeleteCreatedNeedsForce(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, nil)
	r.ok("create", "--bundle", b, "cr")
	if res := r.run("delete", "cr"); res.code == 0 {
		t.Fatal("delete of a created container without --force succeeded (runtime-spec: only stopped)")
	}
	pid := int(r.state("cr")["pid"].(float64))
	r.ok("delete", "--force", "cr")
	if !processGone(pid) {
		t.Fatal("init survived delete --force")
	}
	r.assertEmptyRoot()
}

func TestListFormats(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, nil)
	r.ok("create", "--bundle", b, "l1")
	if out := r.ok("list", "-q"); strings.TrimSpace(out) != "l1" {
		t.Fatalf("list -q: %q", out)
	}
	table := r.ok("list")
	if !strings.HasPrefix(table, "ID") || !strings.Contains(table, "l1") || !strings.Contains(table, "created") {
		t.Fatalf("list: %q", table)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.ok("list", "--format", "json")), &list); err != nil || len(list) != 1 || list[0]["id"] != "l1" {
		t.Fatalf("list --format json: %v %v", list, err)
	}
	r.ok("delete", "--force", "l1")
}

func TestConcurrentCreates(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, nil)
	const n = 8
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			res := r.run("create", "--bundle", b, "cc"+strconv.Itoa(i))
			if res.code != 0 {
				errs <- res.stderr
				return
			}
			errs <- ""
		}(i)
	}
	for i := 0; i < n; i++ {
		if e := <-errs; e != "" {
			t.Errorf("concurrent create failed: %s", e)
		}
	}
	for i := 0; i < n; i++ {
		if s := r.status("cc" + strconv.Itoa(i)); s != "created" {
			t.Errorf("cc%d: %s", i, s)
		}
		r.ok("delete", "--force", "cc"+strconv.Itoa(i))
	}
	r.assertEmptyRoot()
}

func TestStoppedAfterInitDies(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sh", "-c", "exit 0"}, nil)
	r.ok("run", "-d", "--bundle", b, "quick")
	deadline := time.Now().Add(5 * time.Second)
	for r.status("quick") != "stopped" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := r.status("quick"); s != "stopped" {
		t.Fatalf("status: %s", s)
	}
	if _, ok := r.state("quick")["pid"]; ok && r.state("quick")["pid"].(float64) != 0 {
		t.Fatalf("a stopped container reports a pid: %v", r.state("quick"))
	}
	r.ok("delete", "quick")
}

// A config without process: create works, start fails and leaves the
// container created (an error changes nothing: runtime-spec runtime.md,
// Errors), delete --force cleans up.
func TestCreateWithoutProcess(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Process = nil })
	r.ok("create", "--bundle", b, "noproc")
	if s := r.status("noproc"); s != "created" {
		t.Fatalf("status %s", s)
	}
	for range 2 {
		if res := r.run("start", "noproc"); res.code == 0 || !strings.Contains(res.stderr, "process: required when start is called") {
			t.Fatalf("start: exit %d, %q", res.code, res.stderr)
		}
		time.Sleep(50 * time.Millisecond)
		if s := r.status("noproc"); s != "created" {
			t.Fatalf("status after a failed start: %s", s)
		}
	}
	r.ok("delete", "--force", "noproc")
	r.assertEmptyRoot()
}

// TestCreatedInitIsSmall: a created container waits for start in a small C
// waiter, not in a Go runtime (docs/PERFORMANCE.md's goal: at most 3 MiB).
func TestCreatedInitIsSmall(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, nil)
	r.ok("create", "--bundle", b, "small")
	defer r.run("delete", "--force", "small")
	pid := int(r.state("small")["pid"].(float64))
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var rss int
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			rss, _ = strconv.Atoi(strings.Fields(l)[1])
		}
	}
	if rss == 0 || rss > 3<<10 {
		t.Fatalf("waiting init's RSS %d KiB, want (0, 3072]", rss)
	}
	r.ok("start", "small")
	r.waitStatus("small", "stopped")
}

// TestSignalRightAfterCreate: a catchable signal sent to a created
// container's init the moment create returns ends it. The init is pid 1 of
// its namespace, for which the kernel drops such a signal unless a handler
// is installed: the waiter installs its handlers before it reports ready.
func TestSignalRightAfterCreate(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	for i := range 15 {
		id := fmt.Sprintf("sig%d", i)
		r.ok("create", "--bundle", b, "--pid-file", pidFile, id)
		data, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(string(data))
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		r.waitStatus(id, "stopped")
		r.ok("delete", id)
	}
}

// TestDeleteRacingCreate: `delete --force` of an id being created at the
// same moment either finds nothing, finds the create under way and leaves
// it, or deletes the finished container; the create either finishes or
// fails whole. Afterwards `delete --force` cleans up and nothing is left.
// (The moment between create's mkdir and its lock is forced in
// libcontainer's TestRemoveStale.)
func TestDeleteRacingCreate(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, nil)
	for i := 0; i < 20; i++ {
		done := make(chan result)
		go func() { done <- r.run("create", "--bundle", b, "race") }()
		del := r.run("delete", "--force", "race")
		created := <-done
		if del.code != 0 && !strings.Contains(del.stderr, "does not exist") {
			t.Fatalf("round %d: delete --force: exit %d, %q", i, del.code, del.stderr)
		}
		if created.code != 0 && strings.Contains(created.stderr, "panic") {
			t.Fatalf("round %d: create: %q", i, created.stderr)
		}
		if res := r.run("delete", "--force", "race"); res.code != 0 {
			t.Fatalf("round %d: delete --force after the race: exit %d, %q", i, res.code, res.stderr)
		}
		r.assertEmptyRoot()
	}
}
