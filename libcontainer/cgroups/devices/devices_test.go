package devices

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

func rule(allow bool, t rune, major, minor int64, access string) configs.DeviceRule {
	return configs.DeviceRule{Allow: allow, Type: t, Major: major, Minor: minor, Access: access}
}

func TestEmulateLikeV1(t *testing.T) {
	tests := []struct {
		name         string
		rules        []configs.DeviceRule
		defaultAllow bool
		exc          []configs.DeviceRule
	}{
		{"nothing", nil, true, nil},
		{"deny all", []configs.DeviceRule{rule(false, 'a', -1, -1, "rwm")}, false, nil},
		{"deny all, allow two", []configs.DeviceRule{rule(false, 'a', -1, -1, "rwm"), rule(true, 'c', 1, 3, "rw"), rule(true, 'c', -1, -1, "m")},
			false, []configs.DeviceRule{rule(true, 'c', 1, 3, "rw"), rule(true, 'c', -1, -1, "m")}},
		{"a later deny takes access from the same device only", []configs.DeviceRule{rule(false, 'a', -1, -1, "rwm"), rule(true, 'c', 1, 3, "rwm"),
			rule(true, 'c', -1, -1, "m"), rule(false, 'c', 1, 3, "w")},
			false, []configs.DeviceRule{rule(true, 'c', 1, 3, "rm"), rule(true, 'c', -1, -1, "m")}},
		{"allow all resets", []configs.DeviceRule{rule(false, 'a', -1, -1, "rwm"), rule(true, 'c', 1, 3, "rw"), rule(true, 'a', -1, -1, "rwm"), rule(false, 'b', 8, 0, "w")},
			true, []configs.DeviceRule{rule(false, 'b', 8, 0, "w")}},
	}
	for _, tt := range tests {
		def, exc := emulate(tt.rules)
		if def != tt.defaultAllow || !reflect.DeepEqual(exc, tt.exc) {
			t.Errorf("%s: got %v %v, want %v %v", tt.name, def, exc, tt.defaultAllow, tt.exc)
		}
	}
}

// TestProgramOnCgroup2 attaches a real filter to a cgroup v2 directory (this
// host's unified hierarchy, even a hybrid one has it) and checks what a
// process in it may open.
func TestProgramOnCgroup2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := ""
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err == nil {
			if _, err := os.Stat(filepath.Join(p, "cgroup.controllers")); err == nil {
				root = p
				break
			}
		}
	}
	if root == "" {
		t.Skip("no cgroup2 hierarchy mounted")
	}
	dir := filepath.Join(root, fmt.Sprintf("ocirun-devtest-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	rules := []configs.DeviceRule{rule(false, 'a', -1, -1, "rwm"), rule(true, 'c', 1, 5, "rwm"), rule(true, 'c', 1, 3, "rwm"), rule(false, 'c', 1, 3, "w")}
	if err := Attach(dir, rules); err != nil {
		t.Fatal(err)
	}
	try := func(script string) string {
		cmd := exec.Command("sh", "-c", "echo $$ > "+filepath.Join(dir, "cgroup.procs")+"; "+script)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if got := try("head -c 1 /dev/zero | wc -c"); got != "1\n" {
		t.Errorf("allowed /dev/zero: %q", got)
	}
	if got := try("cat /dev/null && echo read-ok"); got != "read-ok\n" {
		t.Errorf("read of /dev/null: %q", got)
	}
	if got := try("(echo x > /dev/null) 2>/dev/zero && echo write-ok || echo denied"); got != "denied\n" {
		t.Errorf("write of /dev/null: %q", got)
	}
	if got := try("head -c 1 /dev/urandom >/dev/zero 2>/dev/zero && echo ok || echo denied"); got != "denied\n" {
		t.Errorf("/dev/urandom (not allowed): %q", got)
	}
	// Replacing the rules detaches the old program.
	if err := Attach(dir, []configs.DeviceRule{rule(true, 'a', -1, -1, "rwm")}); err != nil {
		t.Fatal(err)
	}
	if got := try("head -c 1 /dev/urandom > /dev/null && echo ok"); got != "ok\n" {
		t.Errorf("after replacing the filter: %q", got)
	}
	// A default-allow list with one exception: only that device is refused.
	if err := Attach(dir, []configs.DeviceRule{rule(true, 'a', -1, -1, "rwm"), rule(false, 'c', 1, 9, "r")}); err != nil {
		t.Fatal(err)
	}
	if got := try("head -c 1 /dev/urandom >/dev/null 2>&1 && echo ok || echo denied"); got != "denied\n" {
		t.Errorf("read of /dev/urandom (denied): %q", got)
	}
	if got := try("head -c 1 /dev/zero | wc -c; echo x > /dev/urandom && echo write-ok"); got != "1\nwrite-ok\n" {
		t.Errorf("/dev/zero, and writing /dev/urandom (not denied): %q", got)
	}
	if ids, err := func() ([]uint32, error) {
		fd, err := os.Open(dir)
		if err != nil {
			return nil, err
		}
		defer fd.Close()
		return attachedPrograms(int(fd.Fd()))
	}(); err != nil || len(ids) != 1 {
		t.Errorf("programs on the cgroup after three attaches: %v, %v (want exactly one)", ids, err)
	}
}

// TestAttrLayout: the attrs' fields sit where linux/bpf.h puts them.
func TestAttrLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"prog_load.insns", unsafe.Offsetof(progLoadAttr{}.insns), 8},
		{"prog_load.log_buf", unsafe.Offsetof(progLoadAttr{}.logBuf), 32},
		{"prog_load.prog_name", unsafe.Offsetof(progLoadAttr{}.progName), 48},
		{"query.prog_ids", unsafe.Offsetof(progQueryAttr{}.progIds), 16},
		{"query.prog_cnt", unsafe.Offsetof(progQueryAttr{}.progCnt), 24},
		{"query.revision", unsafe.Offsetof(progQueryAttr{}.revision), 56},
		{"sizeof query", unsafe.Sizeof(progQueryAttr{}), 64},
		{"sizeof insn", unsafe.Sizeof(insn{}), 8},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestVerifierRefusalIsExplained: a program the kernel refuses comes back
// with the verifier's words, not a bare errno.
func TestVerifierRefusalIsExplained(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	_, err := load([]insn{ins(opMov64Imm, r0, 0, 0, 1)}) // no exit
	if err == nil || !strings.Contains(err.Error(), "verifier:") {
		t.Fatalf("load of a program without exit: %v", err)
	}
}

// TestLoadSurvivesSignals: a signal that lands while the verifier runs makes
// BPF_PROG_LOAD fail with EAGAIN; the Go runtime's preemption signals did so
// under qemu's TCG. The load retries instead of failing the container. The
// signals come every 2 ms at a program that takes a tenth of that to verify
// here: most loads meet none, but two hundred without a retry meet some.
func TestLoadSurvivesSignals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var rules []configs.DeviceRule
	for i := range int64(10) {
		rules = append(rules, rule(i%2 == 0, 'c', 10+i, i, "rwm"))
	}
	prog := Program(rules)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, tid := unix.Getpid(), unix.Gettid()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = unix.Tgkill(pid, tid, unix.SIGURG) // the signal Go preempts with
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 200 {
		fd, err := load(prog)
		if err != nil {
			t.Fatalf("load %d of a %d-instruction program under signals: %v", i, len(prog), err)
		}
		unix.Close(fd)
	}
}
