package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

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
				if res.code == 0 || !strings.Contains(res.stderr, "bad size") {
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
