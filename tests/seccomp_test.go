package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// withProbe bind-mounts the syscall probe at /probe and sets a seccomp profile.
func withProbe(sc *specs.LinuxSeccomp) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/probe", Source: testEnv.probe, Options: []string{"bind", "ro"}})
		s.Linux.Seccomp = sc
	}
}

func allowAllBut(rules ...specs.LinuxSyscall) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64}, Syscalls: rules}
}

func TestSeccompActions(t *testing.T) {
	r := newRT(t)
	enospc := uint(unix.ENOSPC)
	tests := []struct {
		name    string
		script  string
		profile *specs.LinuxSeccomp
		want    string
	}{
		{"errno EPERM for mkdir", "mkdir /tmp/x 2>&1; /probe mkdir",
			allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}),
			"mkdir: can't create directory '/tmp/x': Operation not permitted\nerrno 1"},
		{"errno with errnoRet", "/probe mkdir",
			allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: &enospc}),
			"errno 28"},
		{"kill on ptrace", "/probe ptrace; echo status $?",
			allowAllBut(specs.LinuxSyscall{Names: []string{"ptrace"}, Action: specs.ActKill}),
			"status 159"}, // 128 + SIGSYS
		{"kill process", "/probe ptrace; echo status $?",
			allowAllBut(specs.LinuxSyscall{Names: []string{"ptrace"}, Action: specs.ActKillProcess}),
			"status 159"},
		{"trap", "/probe ptrace; echo status $?",
			allowAllBut(specs.LinuxSyscall{Names: []string{"ptrace"}, Action: specs.ActTrap}),
			"status 159"},
		{"argument condition", "kill -0 $$ && echo zero-ok; kill -USR1 $$ 2>&1 | grep -o 'not permitted'",
			allowAllBut(specs.LinuxSyscall{Names: []string{"kill"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 1, Value: uint64(unix.SIGUSR1), Op: specs.OpEqualTo}}}),
			"zero-ok\nnot permitted"},
		{"default errno", "/probe getcpu",
			&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: allSyscallsUpTo(t, 334, "getcpu"), Action: specs.ActAllow}}},
			"errno 1"},
		{"a profile naming nearly every syscall loads", "/probe getcpu",
			&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
				Syscalls: []specs.LinuxSyscall{{Names: allSyscallsUpTo(t, 450), Action: specs.ActAllow}}},
			"ok 0"},
		{"ENOSYS for a syscall newer than the profile", "/probe clone3",
			&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: allSyscallsUpTo(t, 334, "getcpu"), Action: specs.ActAllow}}},
			"errno 38"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			if got := r.sh(tt.script, withProbe(tt.profile)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// allSyscallsUpTo names every syscall libseccomp knows numbered up to max, but those excluded.
func allSyscallsUpTo(t *testing.T, max int, exclude ...string) []string {
	var names []string
	for nr := 0; nr <= max; nr++ {
		name, err := libseccomp.ScmpSyscall(nr).GetName()
		if err != nil {
			continue
		}
		skip := false
		for _, e := range exclude {
			skip = skip || e == name
		}
		if !skip {
			names = append(names, name)
		}
	}
	return names
}

func TestSeccompLog(t *testing.T) {
	r := newRT(t)
	kmsg, err := os.Open("/dev/kmsg")
	if err != nil {
		t.Skipf("cannot read the kernel log: %v", err)
	}
	defer kmsg.Close()
	kmsg.Seek(0, 2) // only what comes from now on
	out := r.sh("/probe getcpu", withProbe(allowAllBut(specs.LinuxSyscall{Names: []string{"getcpu"}, Action: specs.ActLog})))
	if out != "ok 0" {
		t.Fatalf("a logged syscall must still run: %q", out)
	}
	unix.SetNonblock(int(kmsg.Fd()), true)
	buf := make([]byte, 8192)
	var log strings.Builder
	for i := 0; i < 100; i++ {
		n, err := kmsg.Read(buf)
		if n > 0 {
			log.Write(buf[:n])
		}
		if strings.Contains(log.String(), "syscall=309") || (err != nil && i > 50) {
			break
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !strings.Contains(log.String(), "type=1326") || !strings.Contains(log.String(), "syscall=309") {
		t.Fatalf("no seccomp audit record for getcpu (309) in the kernel log:\n%s", log.String())
	}
}

func TestSeccompReachesExec(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, withProbe(allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno})))
	r.ok("run", "-d", "--bundle", b, "sx")
	if out := r.ok("exec", "sx", "/probe", "mkdir"); strings.TrimSpace(out) != "errno 1" {
		t.Fatalf("exec: %q", out)
	}
	r.ok("delete", "--force", "sx")
}

// The C waiter calls prctl (not dumpable) under the container's filter: a
// filter that denies prctl keeps the init from handing over to it (the Go
// init waits instead), so create and start still work.
func TestSeccompDenyingWaiterSyscall(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sh", "-c", "echo ran"}, withProbe(allowAllBut(specs.LinuxSyscall{Names: []string{"prctl"}, Action: specs.ActErrno})))
	r.ok("create", "--bundle", b, "wp")
	pid := int(r.state("wp")["pid"].(float64))
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) == 1 {
		t.Errorf("the waiting init has one thread: the C waiter, under a filter that denies its prctl")
	}
	r.ok("start", "wp")
	r.waitStatus("wp", "stopped")
	r.ok("delete", "wp")
}

func TestSeccompBadProfile(t *testing.T) {
	r := newRT(t)
	tests := []struct {
		profile *specs.LinuxSeccomp
		want    string
	}{
		{allowAllBut(specs.LinuxSyscall{Names: []string{"no_such_syscall"}, Action: specs.ActErrno}), `linux.seccomp.syscalls[0].names: unknown syscall "no_such_syscall"`},
		{allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: "SCMP_ACT_BOGUS"}), `linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_BOGUS"`},
		{&specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}, `linux.seccomp.defaultAction: unknown action`},
		{allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify}), "linux.seccomp.listenerPath: required"},
		{allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_WAT"}}}), `args[0].op "SCMP_CMP_WAT"`},
	}
	for _, tt := range tests {
		b := bundle(t, []string{"true"}, withProbe(tt.profile))
		res := r.run("create", "--bundle", b, "bad")
		if res.code == 0 || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("exit %d, stderr %q, want %q", res.code, res.stderr, tt.want)
		}
		r.assertEmptyRoot()
	}
}

// TestSeccompNotify is a small seccomp agent: it receives the notify fd from
// ocirun on the listener socket and answers the container's mkdir itself.
func TestSeccompNotify(t *testing.T) {
	r := newRT(t)
	sockPath := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type received struct {
		state map[string]any
		err   error
	}
	got := make(chan received, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			got <- received{err: err}
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 65536), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- received{err: err}
			return
		}
		var st map[string]any
		if err := json.Unmarshal(buf[:n], &st); err != nil {
			got <- received{err: err}
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil {
			got <- received{err: err}
			return
		}
		got <- received{state: st}
		fd := libseccomp.ScmpFd(fds[0])
		for {
			req, err := libseccomp.NotifReceive(fd)
			if err != nil {
				return
			}
			// Pretend mkdir worked, returning 42 without doing anything.
			libseccomp.NotifRespond(fd, &libseccomp.ScmpNotifResp{ID: req.ID, Val: 42})
		}
	}()
	out := r.sh("/probe mkdir; test -d /tmp/probe-dir || echo not-created", withProbe(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow, ListenerPath: sockPath, ListenerMetadata: "agent-metadata",
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}},
	}))
	if out != "ok 42\nnot-created" {
		t.Fatalf("got %q: the agent's answer did not reach the container", out)
	}
	rec := <-got
	if rec.err != nil {
		t.Fatal(rec.err)
	}
	st := rec.state
	inner, _ := st["state"].(map[string]any)
	if st["metadata"] != "agent-metadata" || st["pid"] == nil || inner == nil || inner["status"] != "creating" {
		t.Fatalf("listener message %v", st)
	}
	if fds, _ := st["fds"].([]any); len(fds) != 1 || fds[0] != "seccompFd" {
		t.Fatalf("listener message fds %v", st["fds"])
	}
}

func TestSeccompUnknownFlagRefused(t *testing.T) {
	r := newRT(t)
	p := allowAllBut()
	p.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}
	b := bundle(t, []string{"true"}, withProbe(p))
	if res := r.run("run", "--bundle", b, "flag"); res.code == 0 || !strings.Contains(res.stderr, "SECCOMP_FILTER_FLAG_BOGUS") {
		t.Fatalf("exit %d, %q", res.code, res.stderr)
	}
	p.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}
	b = bundle(t, []string{"true"}, withProbe(p))
	r.ok("run", "--bundle", b, "flags")
}
