package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestOverlayMount(t *testing.T) {
	r := newRT(t)
	base := t.TempDir()
	for _, d := range []string{"lower", "upper", "work"} {
		os.MkdirAll(filepath.Join(base, d), 0o755)
	}
	os.WriteFile(filepath.Join(base, "lower", "from-lower"), []byte("lower\n"), 0o644)
	out := r.sh("cat /merged/from-lower; echo new > /merged/written; ls /merged | tr '\\n' ' '", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/merged", Type: "overlay", Source: "overlay",
			Options: []string{"lowerdir=" + base + "/lower", "upperdir=" + base + "/upper", "workdir=" + base + "/work"}})
	})
	if out != "lower\nfrom-lower written" {
		t.Fatalf("got %q", out)
	}
	if data, _ := os.ReadFile(filepath.Join(base, "upper", "written")); string(data) != "new\n" {
		t.Fatalf("write did not reach the upper dir: %q", data)
	}
}

func TestMountPropagationOption(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	out := r.sh("awk '$5==\"/data\"' /proc/self/mountinfo | grep -o 'shared:[0-9]*' | cut -d: -f1", func(s *specs.Spec) {
		s.Linux.RootfsPropagation = "rshared"
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: dir, Options: []string{"rbind", "rshared"}})
	})
	if out != "shared" {
		t.Fatalf("got %q", out)
	}
}

func TestCgroupNamespace(t *testing.T) {
	r := newRT(t)
	host, _ := os.Readlink("/proc/self/ns/cgroup")
	out := r.sh("readlink /proc/self/ns/cgroup; cut -d: -f3 /proc/self/cgroup | sort -u", nil)
	lines := strings.Split(out, "\n")
	if lines[0] == host || len(lines) != 2 || lines[1] != "/" {
		t.Fatalf("cgroup namespace: %q (host %s)", out, host)
	}
}

func TestJSONLog(t *testing.T) {
	r := newRT(t)
	log := filepath.Join(t.TempDir(), "log.json")
	res := r.run("--log", log, "--log-format", "json", "state", "missing")
	if res.code == 0 {
		t.Fatal("state of a missing container succeeded")
	}
	data, _ := os.ReadFile(log)
	var entry map[string]string
	if err := json.Unmarshal(data, &entry); err != nil {
		t.Fatalf("log %q: %v", data, err)
	}
	if entry["level"] != "error" || !strings.Contains(entry["msg"], "does not exist") || entry["time"] == "" {
		t.Fatalf("log entry %v: want containerd's level/msg/time with the error", entry)
	}
}

// TestRunWithTerminal runs a terminal container in the foreground under
// script(1), which gives ocirun a terminal of its own to relay.
func TestRunWithTerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) from bsdutils is not installed")
	}
	r := newRT(t)
	b := bundle(t, []string{"sh", "-c", "tty; exit 7"}, func(s *specs.Spec) { s.Process.Terminal = true })
	cmd := exec.Command("script", "-qec", testEnv.bin+" --root "+r.root+" run --bundle "+b+" ttyrun", "/dev/null")
	out, _ := cmd.Output()
	if cmd.ProcessState.ExitCode() != 7 || !strings.Contains(string(out), "/dev/pts/0") {
		t.Fatalf("exit %d, output %q", cmd.ProcessState.ExitCode(), out)
	}
	r.assertEmptyRoot()
}

func TestCgroupMountWithoutNamespace(t *testing.T) {
	r := newRT(t)
	out := r.sh("ls /sys/fs/cgroup | grep -c .; touch /sys/fs/cgroup/x 2>/dev/null || echo ro", func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.CgroupNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	})
	lines := strings.Split(out, "\n")
	if len(lines) != 2 || lines[0] == "0" || lines[1] != "ro" {
		t.Fatalf("got %q: want hierarchies under a read-only /sys/fs/cgroup", out)
	}
}
