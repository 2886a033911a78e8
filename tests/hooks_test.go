package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// logHook appends "<name> <status from the state on stdin> <id>" to log.
func logHook(name, log string) specs.Hook {
	script := `s=$(cat); st=$(echo "$s" | grep -o '"status":"[a-z]*"' | cut -d'"' -f4); id=$(echo "$s" | grep -o '"id":"[^"]*"' | cut -d'"' -f4); echo "$KIND $st $id $1" >> ` + log
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script, "sh", name}, Env: []string{"KIND=" + name}}
}

func TestHooksRunInOrderWithState(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	b := bundle(t, []string{"sh", "-c", "echo process >> /hooks/log"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hooks", Source: dir, Options: []string{"rbind", "rw"}})
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{logHook("prestart", log)}, //nolint:staticcheck // still part of the spec
			CreateRuntime:   []specs.Hook{logHook("createRuntime", log)},
			CreateContainer: []specs.Hook{logHook("createContainer", log)},
			StartContainer:  []specs.Hook{logHook("startContainer", "/hooks/log")}, // runs inside the container
			Poststart:       []specs.Hook{logHook("poststart", log)},
			Poststop:        []specs.Hook{logHook("poststop", log)},
		}
	})
	r.ok("create", "--bundle", b, "hk")
	r.ok("start", "hk")
	r.waitStatus("hk", "stopped")
	r.ok("delete", "hk")
	data, _ := os.ReadFile(log)
	want := "prestart created hk prestart\ncreateRuntime created hk createRuntime\ncreateContainer created hk createContainer\n" +
		"startContainer running hk startContainer\n"
	got := string(data)
	// The process and poststart race (poststart runs after the exec); both come before poststop.
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "poststop stopped hk poststop\n") ||
		!strings.Contains(got, "process\n") || !strings.Contains(got, "poststart running hk poststart\n") {
		t.Fatalf("hook log:\n%s", got)
	}
}

func TestFailingCreateRuntimeHookCleansUp(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	b := bundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{
			CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo boom >&2; exit 3"}}},
			Poststop:      []specs.Hook{logHook("poststop", log)},
		}
	})
	res := r.run("create", "--bundle", b, "bad")
	if res.code == 0 || !strings.Contains(res.stderr, "createRuntime hook #0") || !strings.Contains(res.stderr, "boom") {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	r.assertEmptyRoot()
	if data, _ := os.ReadFile(log); !strings.Contains(string(data), "poststop") {
		t.Fatalf("poststop hooks did not run after a failed createRuntime hook: %q", data)
	}
}

func TestFailingPoststartHookOnlyWarns(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/false"}}}
	})
	r.ok("run", "-d", "--bundle", b, "ps")
	if st := r.status("ps"); st != "running" {
		t.Fatalf("status %s after a failed poststart hook", st)
	}
	r.ok("delete", "--force", "ps")
}

func TestHookTimeout(t *testing.T) {
	r := newRT(t)
	one := 1
	b := bundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}}}
	})
	start := time.Now()
	res := r.run("create", "--bundle", b, "slow")
	if res.code == 0 || !strings.Contains(res.stderr, "timed out") || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %d after %v, stderr %q", res.code, time.Since(start), res.stderr)
	}
	r.assertEmptyRoot()
}

func TestFailingCreateContainerHook(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/false"}}}
	})
	res := r.run("create", "--bundle", b, "ccfail")
	if res.code == 0 || !strings.Contains(res.stderr, "createContainer hook #0") {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	r.assertEmptyRoot()
}
