package tests

import (
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A foreground run with -no-subreaper: an init that is ocirun's own child
// (the parent-built pid 1) gives its real status; one that is not (the Go
// init's, forked below the constructor and reparented away) is waited for
// all the same, on its pidfd, and gives 0 (its status went to whoever
// reaped it). The Go init's case hung until some signal came, before.
func TestRunNoSubreaperWaits(t *testing.T) {
	for _, tc := range []struct {
		init string
		want int
	}{{"parent", 3}, {"go", 0}} {
		r := newRT(t)
		r.init = tc.init
		b := bundle(t, []string{"sh", "-c", "sleep 0.1; exit 3"}, nil)
		done := make(chan result, 1)
		go func() { done <- r.run("run", "-no-subreaper", "--bundle", b, "nosub") }()
		select {
		case res := <-done:
			if res.code != tc.want {
				t.Errorf("%s init: exit %d, want %d: %s", tc.init, res.code, tc.want, res.stderr)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s init: run -no-subreaper did not return after its init exited", tc.init)
		}
	}
}

// A signal relayed to an init that is ocirun's direct child (no pid
// namespace: the constructor does not fork) and that exits of it: the
// status is the init's, every time, with or without -no-subreaper.
func TestRunStatusAfterRelayedSignal(t *testing.T) {
	noPidNS := func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	}
	r := newRT(t)
	b := bundle(t, []string{"sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.02; done"}, noPidNS)
	for i := 0; i < 10; i++ {
		args := []string{"run", "--bundle", b, "relayed"}
		if i%2 == 1 {
			args = []string{"run", "-no-subreaper", "--bundle", b, "relayed"}
		}
		cmd := r.cmd(args...)
		startReady(t, cmd)
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 7 {
			t.Fatalf("round %d (%v): exit %d, want 7", i, args[1], code)
		}
	}
}
