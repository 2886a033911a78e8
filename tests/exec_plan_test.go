package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The process of `exec` gets its plan applied in C by the constructor
// that joined the container (libcontainer/plan.go, nsenter/plan.c) unless
// OCIRUN_GO_INIT=1 or the process needs the Go init. These tests run each
// exec both ways and compare.

// execProcessJSON writes a process for `exec --process` and returns its path.
func execProcessJSON(t *testing.T, p specs.Process) string {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExecInCMatchesGoInit(t *testing.T) {
	r := newRT(t)
	r.running("plan", func(s *specs.Spec) {
		// The container's filter applies to what is exec'd into it.
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}}}
	})
	script := strings.Join([]string{
		"id",
		"grep -E '^(Uid|Gid|Groups|Cap...|NoNewPrivs|Seccomp):' /proc/self/status",
		"ulimit -n; ulimit -c; umask; pwd",
		"mkdir /tmp/denied 2>&1 || echo mkdir denied",
		"env | sort",
		"ls /proc/self/fd | wc -l",
	}, "; ")
	umask := uint32(0o027)
	for _, nnp := range []bool{true, false} {
		proc := specs.Process{Args: []string{"sh", "-c", script}, Cwd: "/tmp", NoNewPrivileges: nnp,
			Env:  []string{"PATH=/bin:/usr/bin", "FROM_PROCESS=yes"},
			User: specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{5, 65534}, Umask: &umask},
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL", "CAP_NET_ADMIN"},
				Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL", "CAP_NET_ADMIN"},
				Inheritable: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"}},
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 900, Soft: 800}, {Type: "RLIMIT_CORE", Hard: 0, Soft: 0}},
		}
		pf := execProcessJSON(t, proc)
		out := map[string]string{}
		for _, init := range []string{"parent", "go"} {
			r.init = init
			res := r.run("exec", "--process", pf, "plan")
			if res.code != 0 {
				t.Fatalf("no_new_privs %v, %s: exit %d: %s%s", nnp, init, res.code, res.stdout, res.stderr)
			}
			out[init] = res.stdout
		}
		if out["parent"] != out["go"] {
			t.Errorf("no_new_privs %v: the process applied in C differs from the Go init's:\n--- C\n%s\n--- Go init\n%s",
				nnp, out["parent"], out["go"])
		}
		// And it is what was asked for, not the same mistake twice (a non-root
		// process keeps across its execve the ambient set only). HOME comes
		// from the container's /etc/passwd. ls sees its directory and the
		// three stdio: nothing of ocirun's is left open.
		wants := []string{"uid=1000(user) gid=1001 groups=5(tty),65534(nogroup)", "Seccomp:\t2",
			"CapEff:\t0000000000000020", "CapPrm:\t0000000000000020", "CapAmb:\t0000000000000020",
			"CapBnd:\t0000000000001020", "\n800\n0\n0027\n/tmp\n", "mkdir denied", "FROM_PROCESS=yes",
			"HOME=/home/user", "\n4\n"}
		if nnp {
			wants = append(wants, "NoNewPrivs:\t1")
		} else {
			wants = append(wants, "NoNewPrivs:\t0")
		}
		for _, want := range wants {
			if !strings.Contains(out["parent"], want) {
				t.Errorf("no_new_privs %v: %q missing from:\n%s", nnp, want, out["parent"])
			}
		}
	}
	// An argument that is not UTF-8 reaches the process as the Go init
	// passes it (and runc's: replaced in the JSON), whichever path runs.
	args := map[string]string{}
	for _, init := range []string{"parent", "go"} {
		r.init = init
		args[init] = r.ok("exec", "plan", "sh", "-c", `printf %s "$1" | od -An -tx1`, "_", "a\xffb")
	}
	if args["parent"] != args["go"] {
		t.Errorf("a non-UTF-8 argument: in C %q, Go init %q", args["parent"], args["go"])
	}
	r.init = ""
	r.ok("delete", "--force", "plan")
}

// TestExecInCStartsNoGoRuntime: no Go runtime starts in an exec'd process
// whose plan C applies. A process keeps its page-fault count across execve:
// a Go runtime takes a few hundred faults to start, the constructor's C a
// few dozen; busybox's cut reading its own count adds about thirty.
func TestExecInCStartsNoGoRuntime(t *testing.T) {
	r := newRT(t)
	r.running("faults", nil)
	faults := map[string]int{}
	for _, init := range []string{"parent", "go"} {
		r.init = init
		out := r.ok("exec", "faults", "cut", "-d", " ", "-f", "10", "/proc/self/stat")
		n, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("%s: minflt %q", init, out)
		}
		faults[init] = n
	}
	if faults["parent"] >= 150 || faults["go"] < 150 {
		t.Errorf("page faults before and after exec: %d in C (want < 150), %d with the Go init (want >= 150)",
			faults["parent"], faults["go"])
	}
	r.init = ""
	r.ok("delete", "--force", "faults")
}

func TestExecInCFailsLikeGoInit(t *testing.T) {
	r := newRT(t)
	r.running("bad", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
	})
	// An executable file of no format the kernel knows: its error names the path tried.
	r.ok("exec", "bad", "sh", "-c", "printf x > /tmp/junk; chmod +x /tmp/junk")
	pathProc := func(path string) *specs.Process {
		return &specs.Process{Args: []string{"junk"}, Cwd: "/tmp", Env: []string{"PATH=" + path}}
	}
	for _, tc := range []struct {
		name  string
		flags []string
		cmd   string
		proc  *specs.Process // instead of flags and cmd
	}{
		{"missing binary", nil, "nosuch", nil},
		{"missing path", nil, "/bin/nosuch", nil},
		{"not executable", nil, "/etc/passwd", nil},
		{"missing cwd", []string{"--cwd", "/nonexistent"}, "true", nil},
		{"cwd a file", []string{"--cwd", "/bin/busybox"}, "true", nil},
		{"rlimit above ours", nil, "", &specs.Process{Args: []string{"true"}, Cwd: "/",
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 40, Soft: 1 << 40}}}},
		{"empty PATH entry", nil, "", &specs.Process{Args: []string{"nosuch"}, Cwd: "/", Env: []string{"PATH=:/bin"}}},
		{"a name to quote", nil, "no\t\"such\\", nil},
		{"PATH entry with a trailing slash", nil, "", pathProc("/bin:/tmp/")},
		{"PATH entry through ..", nil, "", pathProc("/bin/../tmp")},
		{"empty PATH entry, cwd", nil, "", pathProc(":/bin")},
		{"empty PATH", nil, "", pathProc("")},
		{"a PATH entry longer than a path, short once cleaned", nil, "", pathProc("/" + strings.Repeat("./", 2100) + "tmp")},
	} {
		args := append(append([]string{"exec"}, tc.flags...), "bad", tc.cmd)
		if tc.proc != nil {
			args = []string{"exec", "--process", execProcessJSON(t, *tc.proc), "bad"}
		}
		got := map[string]result{}
		for _, init := range []string{"parent", "go"} {
			r.init = init
			got[init] = r.run(args...)
			if got[init].code != 255 {
				t.Errorf("%s (%s): exit %d, want 255: %s", tc.name, init, got[init].code, got[init].stderr)
			}
			if lines := strings.Count(strings.TrimSpace(got[init].stderr), "\n"); lines != 0 {
				t.Errorf("%s (%s): %d-line error: %q", tc.name, init, lines+1, got[init].stderr)
			}
		}
		if got["parent"] != got["go"] {
			t.Errorf("%s: in C %+v, Go init %+v", tc.name, got["parent"], got["go"])
		}
	}
	r.init = ""
	r.ok("delete", "--force", "bad")
}

// The container's /etc/passwd, where exec looks up HOME, may be endless:
// both ways the lookup gives up after 64 KiB without a newline.
func TestExecHomeFromEndlessPasswd(t *testing.T) {
	r := newRT(t)
	r.running("zero", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/passwd", Type: "bind", Source: "/dev/zero",
			Options: []string{"bind", "ro"}})
	})
	for _, init := range []string{"parent", "go"} {
		r.init = init
		if out := r.ok("exec", "zero", "sh", "-c", "echo $HOME"); out != "/\n" {
			t.Errorf("%s: HOME %q, want /", init, out)
		}
	}
	r.init = ""
	r.ok("delete", "--force", "zero")
}

// exec into a container with a user namespace joins it (the constructor,
// without becoming dumpable there) and applies the process both ways alike.
func TestExecInUserNamespace(t *testing.T) {
	r := newRT(t)
	r.running("userns", func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	})
	script := "id; tr -s ' ' < /proc/self/uid_map; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; echo $HOME"
	out := map[string]string{}
	for _, init := range []string{"parent", "go"} {
		r.init = init
		out[init] = r.ok("exec", "--user", "1000:1000", "userns", "sh", "-c", script)
	}
	if out["parent"] != out["go"] {
		t.Errorf("in C:\n%s\nGo init:\n%s", out["parent"], out["go"])
	}
	for _, want := range []string{"uid=1000(user) gid=1000", " 0 200000 65536", "CapEff:\t0000000000000000", "/home/user"} {
		if !strings.Contains(out["parent"], want) {
			t.Errorf("%q missing from:\n%s", want, out["parent"])
		}
	}
	r.init = ""
	r.ok("delete", "--force", "userns")
}

// HOME comes from the container's /etc/passwd, read in C as the Go init's
// line scanner reads it: a NUL in another line, CRLF, a last line without
// a newline, lines at and past 64 KiB, a uid written otherwise, an empty
// home. Each file is compared both ways and with what Go's scanner gives.
func TestExecHomeFromPasswdLikeGoInit(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRT(t)
	r.running("home", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/passwd", Type: "bind", Source: passwd, Options: []string{"bind", "ro"}})
	})
	long := "user:x:1000:1000::/" + strings.Repeat("h", 65535-len("user:x:1000:1000::/"))
	for _, tc := range []struct{ name, file, want string }{
		{"NUL and CRLF", "root:x:0:0::/root:/bin/sh\nfoo\x00:x:5:5::/nul:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\r\n", "/home/user"},
		{"no final newline", "user:x:1000:1000::/last:/bin/sh", "/last"},
		{"after a 65535-byte line", strings.Repeat("a", 65535) + "\nuser:x:1000:1000::/after:/bin/sh\n", "/after"},
		{"after a 65536-byte line", strings.Repeat("a", 65536) + "\nuser:x:1000:1000::/after:/bin/sh\n", "/"},
		{"uid written otherwise, empty home", "user:x:01000:1000::/zero:/sh\nuser:x:1000:1000:::/sh\nuser:x:1000:1000::/ok:\n", "/ok"},
		{"a 65535-byte line", long + "\n", long[len("user:x:1000:1000::"):]},
	} {
		if err := os.WriteFile(passwd, []byte(tc.file), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, init := range []string{"parent", "go"} {
			r.init = init
			if got := strings.TrimSuffix(r.ok("exec", "--user", "1000:1000", "home", "sh", "-c", "echo $HOME"), "\n"); got != tc.want {
				t.Errorf("%s (%s): HOME %.40q, want %.40q", tc.name, init, got, tc.want)
			}
		}
	}
	r.init = ""
	r.ok("delete", "--force", "home")
}
