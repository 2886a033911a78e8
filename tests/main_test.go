// Package tests runs real containers with the ocirun binary, as root.
package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/ocirun/ocirun/specconv"
)

// env is what every test shares: the binary under test and a busybox rootfs.
type env struct {
	bin    string
	rootfs string
	probe  string // a static binary that makes one syscall and prints the result
}

var testEnv env

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("tests: skipped: integration tests run real containers and need root")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "ocirun-tests-")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		bin := os.Getenv("OCIRUN_BINARY")
		if bin == "" {
			bin = filepath.Join(dir, "ocirun")
			// As the Makefile builds it: static (the waiter re-executes the
			// binary inside the container, which has no dynamic loader).
			build := exec.Command("go", "build", "-tags", "netgo osusergo urfave_cli_no_docs",
				"-ldflags", "-linkmode external -extldflags -static", "-o", bin, "..")
			exp, err := exec.Command("make", "-s", "--no-print-directory", "-C", "..", "goexperiment").Output()
			if err != nil {
				fmt.Println("tests: make goexperiment:", err)
				return 1
			}
			build.Env = append(os.Environ(), "GOEXPERIMENT="+strings.TrimSpace(string(exp)))
			build.Stdout, build.Stderr = os.Stdout, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Println("tests: build ocirun:", err)
				return 1
			}
		}
		rootfs, _ := filepath.Abs("../bundles/rootfs")
		mk := exec.Command("../bundles/mkrootfs.sh", rootfs)
		mk.Stdout, mk.Stderr = os.Stdout, os.Stderr
		if err := mk.Run(); err != nil {
			fmt.Println("tests: build rootfs:", err)
			return 1
		}
		probe := os.Getenv("OCIRUN_PROBE") // the VM passes one built on the host
		if probe == "" {
			probe = filepath.Join(dir, "probe")
			cc := exec.Command("gcc", "-static", "-O2", "-o", probe, "helpers/probe.c")
			cc.Stdout, cc.Stderr = os.Stdout, os.Stderr
			if err := cc.Run(); err != nil {
				fmt.Println("tests: build the syscall probe (gcc -static, libc6-dev):", err)
				return 1
			}
		}
		testEnv = env{bin: bin, rootfs: rootfs, probe: probe}
		return m.Run()
	}()
	os.Exit(code)
}

// rt is one test's runtime: its own --root, so tests never see each other's containers.
type rt struct {
	t    *testing.T
	root string
	// init picks how creates build containers: "go" always with the Go init
	// (OCIRUN_GO_INIT=1), "parent" from the parent where it can (the
	// default); "" leaves it to the suite's environment (`make test` runs
	// the suite both ways).
	init string
}

func newRT(t *testing.T) *rt {
	t.Helper()
	r := &rt{t: t, root: t.TempDir()}
	t.Cleanup(func() {
		// Whatever a test left behind is force-deleted, then the root must be empty.
		entries, _ := os.ReadDir(r.root)
		for _, e := range entries {
			r.run("delete", "--force", e.Name())
		}
	})
	return r
}

// result is one ocirun command's outcome.
type result struct {
	stdout, stderr string
	code           int
}

func (r *rt) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(testEnv.bin, append([]string{"--root", r.root}, args...)...)
	switch r.init {
	case "go":
		cmd.Env = append(os.Environ(), "OCIRUN_GO_INIT=1")
	case "parent":
		cmd.Env = append(os.Environ(), "OCIRUN_GO_INIT=")
	}
	return cmd
}

// run runs ocirun with a time limit and returns what it printed and its exit code.
func (r *rt) run(args ...string) result {
	r.t.Helper()
	cmd := r.cmd(args...)
	// Files, not pipes: a created container keeps its stdio open, and a pipe
	// would make Wait wait for the container instead of the command.
	outF, errF := tempFile(r.t), tempFile(r.t)
	cmd.Stdout, cmd.Stderr = outF, errF
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start ocirun %v: %v", args, err)
	}
	if !waitOrKill(cmd, 30*time.Second) {
		r.t.Fatalf("ocirun %v: timed out", args)
	}
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return result{string(out), string(errb), cmd.ProcessState.ExitCode()}
}

// waitOrKill waits for a started command; past the timeout it kills it,
// reaps it and reports false.
func waitOrKill(cmd *exec.Cmd, timeout time.Duration) bool {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return false
	}
}

func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// ok runs ocirun and fails the test unless it exits 0.
func (r *rt) ok(args ...string) string {
	r.t.Helper()
	res := r.run(args...)
	if res.code != 0 {
		r.t.Fatalf("ocirun %v: exit %d\nstdout: %s\nstderr: %s", args, res.code, res.stdout, res.stderr)
	}
	return res.stdout
}

// state returns the container's state JSON.
func (r *rt) state(id string) map[string]any {
	r.t.Helper()
	var s map[string]any
	if err := json.Unmarshal([]byte(r.ok("state", id)), &s); err != nil {
		r.t.Fatalf("state %s: %v", id, err)
	}
	return s
}

func (r *rt) status(id string) string {
	r.t.Helper()
	s, _ := r.state(id)["status"].(string)
	return s
}

// waitStatus polls state until the container reaches want (the init's exit is asynchronous).
func (r *rt) waitStatus(id, want string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.status(id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("container %s: status %q, want %q", id, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bundle writes a bundle whose config is ocirun's default spec, with the
// shared busybox rootfs, no terminal, the given args, changed by mutate.
func bundle(t *testing.T, args []string, mutate func(*specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	spec := specconv.Example()
	spec.Root.Path = testEnv.rootfs
	spec.Process.Terminal = false
	spec.Process.Args = args
	if mutate != nil {
		mutate(spec)
	}
	writeSpec(t, dir, spec)
	return dir
}

func writeSpec(t *testing.T, dir string, spec *specs.Spec) {
	t.Helper()
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runIn runs a container to completion in the foreground and returns its output and exit code.
func (r *rt) runIn(args []string, mutate func(*specs.Spec)) result {
	r.t.Helper()
	b := bundle(r.t, args, mutate)
	return r.run("run", "--bundle", b, "c"+fmt.Sprint(time.Now().UnixNano()))
}

// sh runs a shell command in a container and returns its stdout, failing on a non-zero exit.
func (r *rt) sh(script string, mutate func(*specs.Spec)) string {
	r.t.Helper()
	res := r.runIn([]string{"sh", "-c", script}, mutate)
	if res.code != 0 {
		r.t.Fatalf("container %q: exit %d\nstdout: %s\nstderr: %s", script, res.code, res.stdout, res.stderr)
	}
	return strings.TrimSpace(res.stdout)
}

// assertEmptyRoot checks that nothing of any container is left in the state root.
func (r *rt) assertEmptyRoot() {
	r.t.Helper()
	entries, err := os.ReadDir(r.root)
	if err != nil && !os.IsNotExist(err) {
		r.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		// '#' marks ocirun's own shared files (never a container id).
		if !strings.HasPrefix(e.Name(), "#") {
			names = append(names, e.Name())
		}
	}
	if len(names) != 0 {
		r.t.Fatalf("state root not empty: %v", names)
	}
}

func exampleSpec() *specs.Spec { return specconv.Example() }

func readSpec(t *testing.T, dir string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// copyBinary copies the ocirun under test into a directory of the test's own,
// with the given mode, for tests that attack the binary or change its mode.
func copyBinary(t *testing.T, mode os.FileMode) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ocirun")
	data, err := os.ReadFile(testEnv.bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, mode); err != nil {
		t.Fatal(err)
	}
	return bin
}
