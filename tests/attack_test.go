package tests

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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
	victim := filepath.Join(t.TempDir(), "ocirun")
	data, err := os.ReadFile(testEnv.bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, data, 0o755); err != nil {
		t.Fatal(err)
	}
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
