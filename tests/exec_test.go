package tests

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// running starts a detached sleeper with the given changes and returns its id.
func (r *rt) running(id string, mutate func(*specs.Spec)) {
	r.t.Helper()
	b := bundle(r.t, []string{"sleep", "3600"}, mutate)
	r.ok("run", "-d", "--bundle", b, id)
}

// startReady starts a foreground run or exec whose container prints
// "ready" first, and returns the rest of its stdout; on failure the command
// is killed and the test stopped.
func startReady(t *testing.T, cmd *exec.Cmd) *bufio.Reader {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rest := bufio.NewReader(out)
	if line, err := rest.ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("container did not start: %q %v", line, err)
	}
	return rest
}

func TestExec(t *testing.T) {
	r := newRT(t)
	r.running("ex", func(s *specs.Spec) {
		s.Hostname = "exhost"
		s.Process.Env = append(s.Process.Env, "FROM=config")
	})
	initPid := itoa(int(r.state("ex")["pid"].(float64)))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"joins namespaces", []string{"ex", "sh", "-c", "hostname; readlink /proc/1/exe; echo $$"}, "exhost\n/bin/busybox\n"},
		{"container env", []string{"ex", "sh", "-c", "echo $FROM"}, "config"},
		{"env override", []string{"--env", "FROM=flag", "-e", "NEW=1", "ex", "sh", "-c", "echo $FROM $NEW"}, "flag 1"},
		{"user", []string{"--user", "1000:1000", "--additional-gids", "5", "ex", "id", "-G"}, "1000 5"},
		{"cwd", []string{"--cwd", "/tmp", "ex", "pwd"}, "/tmp"},
		{"default caps", []string{"ex", "sh", "-c", "grep CapEff /proc/self/status | cut -f2"}, capMask(5, 10, 29)},
		{"added cap", []string{"--cap", "CAP_SYS_ADMIN", "ex", "sh", "-c", "grep CapEff /proc/self/status | cut -f2"}, capMask(5, 10, 21, 29)},
		{"no new privs", []string{"ex", "sh", "-c", "grep NoNewPrivs /proc/self/status | cut -f2"}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			out := r.ok(append([]string{"exec"}, tt.args...)...)
			if tt.name == "joins namespaces" {
				// Same uts and pid namespace as the init: its pid 1 is the container's sleep.
				if !strings.HasPrefix(out, tt.want) || strings.TrimSpace(out[len(tt.want):]) == initPid {
					t.Fatalf("got %q", out)
				}
				return
			}
			if strings.TrimSpace(out) != tt.want {
				t.Fatalf("got %q, want %q", out, tt.want)
			}
		})
	}
	r.t = t
	// The exec'd process is in the init's namespaces as seen from the host.
	b := r.cmd("exec", "ex", "sleep", "3600")
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { b.Process.Kill(); b.Wait() }()
	var execPid string
	for i := 0; i < 200 && execPid == ""; i++ {
		out, _ := exec.Command("pgrep", "-f", "^sleep 3600$").Output()
		for _, p := range strings.Fields(string(out)) {
			if p != initPid && readlinkOrEmpty(p, "ns/pid") == readlinkOrEmpty(initPid, "ns/pid") {
				execPid = p
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if execPid == "" {
		t.Fatal("the exec'd process was not found in the container's pid namespace")
	}
	for _, ns := range []string{"mnt", "net", "uts", "ipc", "cgroup"} {
		if readlinkOrEmpty(execPid, "ns/"+ns) != readlinkOrEmpty(initPid, "ns/"+ns) {
			t.Errorf("%s namespace differs from the init's", ns)
		}
	}
	r.ok("delete", "--force", "ex")
}

func readlinkOrEmpty(pid, name string) string {
	l, _ := os.Readlink("/proc/" + pid + "/" + name)
	return l
}

func TestExecExitCodes(t *testing.T) {
	r := newRT(t)
	r.running("ec", nil)
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 7"}, 7},
		{[]string{"no-such-command"}, 255},
		{[]string{"sh", "-c", "kill -9 $$"}, 137},
	}
	for _, tt := range tests {
		res := r.run(append([]string{"exec", "ec"}, tt.args...)...)
		if res.code != tt.code {
			t.Errorf("exec %v: exit %d, want %d (%s)", tt.args, res.code, tt.code, res.stderr)
		}
	}
	r.ok("kill", "ec", "KILL")
	r.waitStatus("ec", "stopped")
	res := r.run("exec", "ec", "true")
	if res.code != 255 || !strings.Contains(res.stderr, "stopped") {
		t.Fatalf("exec into a stopped container: exit %d, %q", res.code, res.stderr)
	}
	if res := r.run("exec", "nosuch", "true"); res.code != 255 || !strings.Contains(res.stderr, "does not exist") {
		t.Fatalf("exec into a missing container: exit %d, %q", res.code, res.stderr)
	}
	r.ok("delete", "ec")
}

func TestExecForwardsSignals(t *testing.T) {
	r := newRT(t)
	r.running("es", nil)
	cmd := r.cmd("exec", "es", "sh", "-c", "trap 'exit 42' TERM; echo ready; while true; do sleep 0.05; done")
	startReady(t, cmd)
	endWithTrappedTERM(t, cmd)
	r.ok("delete", "--force", "es")
}

func TestExecDetachedWithProcessJSON(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o777) // the process runs as uid 1000
	r.running("ep", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Source: dir, Options: []string{"rbind"}})
	})
	// As containerd's shim writes it: a whole OCI Process.
	proc := specs.Process{Args: []string{"sh", "-c", "echo $ONLY $(id -u) > /out/result"}, Env: []string{"ONLY=json"},
		Cwd: "/", User: specs.User{UID: 1000, GID: 1000}}
	data, _ := json.Marshal(proc)
	pf := filepath.Join(dir, "process.json")
	os.WriteFile(pf, data, 0o644)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r.ok("exec", "--process", pf, "--detach", "--pid-file", pidFile, "ep")
	pid, err := os.ReadFile(pidFile)
	if _, perr := strconv.Atoi(string(pid)); err != nil || perr != nil {
		t.Fatalf("pid file %q: %v", pid, err)
	}
	var got []byte
	for i := 0; i < 200 && len(got) == 0; i++ {
		got, _ = os.ReadFile(filepath.Join(dir, "result"))
		time.Sleep(10 * time.Millisecond)
	}
	if strings.TrimSpace(string(got)) != "json 1000" {
		t.Fatalf("result %q", got)
	}
	r.ok("delete", "--force", "ep")
}

func TestExecTTY(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) from bsdutils is not installed")
	}
	r := newRT(t)
	r.running("et", nil)
	cmd := exec.Command("script", "-qec", testEnv.bin+" --root "+r.root+" exec -t et sh -c 'tty; test -t 1 && echo isatty'", "/dev/null")
	out, _ := cmd.Output()
	if cmd.ProcessState.ExitCode() != 0 || !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "isatty") {
		t.Fatalf("exit %d, output %q", cmd.ProcessState.ExitCode(), out)
	}
	// Without a tty, stdio is inherited: no terminal.
	if out := r.ok("exec", "et", "sh", "-c", "test -t 1 || echo notty"); strings.TrimSpace(out) != "notty" {
		t.Fatalf("exec without -t: %q", out)
	}
	r.ok("delete", "--force", "et")
}
