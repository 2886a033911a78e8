package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func readFeatures(t *testing.T, r *rt) *features.Features {
	t.Helper()
	var f features.Features
	dec := json.NewDecoder(strings.NewReader(r.ok("features")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("features JSON: %v", err)
	}
	if f.OCIVersionMax != specs.Version || f.Linux == nil || f.Linux.Seccomp == nil || f.Annotations["io.github.ocirun.version"] == "" {
		t.Fatalf("features: %+v", f)
	}
	return &f
}

// Every advertised item must work in a real container.
func TestFeaturesAreTrue(t *testing.T) {
	r := newRT(t)
	f := readFeatures(t, r)

	t.Run("namespaces", func(t *testing.T) {
		r.t = t
		out := r.sh("ls /proc/self/ns | wc -l", func(s *specs.Spec) {
			s.Linux.Namespaces = nil
			for _, n := range f.Linux.Namespaces {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(n)})
			}
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 65536}}
		})
		if out == "" {
			t.Fatal("no output")
		}
	})
	t.Run("capabilities", func(t *testing.T) {
		r.t = t
		var nums []uint
		for _, c := range f.Linux.Capabilities {
			nums = append(nums, capNumber(t, c))
		}
		out := r.sh("grep CapEff /proc/self/status | cut -f2", func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: f.Linux.Capabilities, Effective: f.Linux.Capabilities, Permitted: f.Linux.Capabilities}
		})
		if out != capMask(nums...) {
			t.Fatalf("CapEff %s, want %s", out, capMask(nums...))
		}
	})
	t.Run("mountOptions", func(t *testing.T) {
		r.t = t
		src := t.TempDir()
		r.sh("true", func(s *specs.Spec) {
			s.Linux.RootfsPropagation = "rshared" // so that the shared options are allowed on mounts
			for i, o := range f.MountOptions {
				m := specs.Mount{Destination: fmt.Sprintf("/tmp/m%d", i), Type: "tmpfs", Source: "tmpfs", Options: []string{o}}
				if o == "bind" || o == "rbind" {
					m = specs.Mount{Destination: m.Destination, Source: src, Options: []string{o}}
				}
				s.Mounts = append(s.Mounts, m)
			}
		})
	})
	t.Run("hooks", func(t *testing.T) {
		r.t = t
		h := &specs.Hooks{}
		ok := specs.Hook{Path: "/bin/true"}
		for _, k := range f.Hooks {
			switch k {
			case "prestart":
				h.Prestart = []specs.Hook{ok} //nolint:staticcheck
			case "createRuntime":
				h.CreateRuntime = []specs.Hook{ok}
			case "createContainer":
				h.CreateContainer = []specs.Hook{ok}
			case "startContainer":
				h.StartContainer = []specs.Hook{ok} // busybox's true, inside the container
			case "poststart":
				h.Poststart = []specs.Hook{ok}
			case "poststop":
				h.Poststop = []specs.Hook{ok}
			default:
				t.Fatalf("unknown hook kind %q advertised", k)
			}
		}
		r.sh("true", func(s *specs.Spec) { s.Hooks = h })
	})
	t.Run("seccomp", func(t *testing.T) {
		r.t = t
		sock := filepath.Join(t.TempDir(), "l.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		for _, a := range f.Linux.Seccomp.Actions {
			if a == string(specs.ActAllow) {
				continue
			}
			r.sh("true", withProbe(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: sock,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"syslog"}, Action: specs.LinuxSeccompAction(a)}}}))
		}
		var args []specs.LinuxSeccompArg
		for i, op := range f.Linux.Seccomp.Operators {
			args = append(args, specs.LinuxSeccompArg{Index: uint(i % 6), Value: 1, ValueTwo: 1, Op: specs.LinuxSeccompOperator(op)})
		}
		var archs []specs.Arch
		for _, a := range f.Linux.Seccomp.Archs {
			archs = append(archs, specs.Arch(a))
		}
		var flags []specs.LinuxSeccompFlag
		for _, fl := range f.Linux.Seccomp.SupportedFlags {
			flags = append(flags, specs.LinuxSeccompFlag(fl))
		}
		r.sh("true", withProbe(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: archs, Flags: flags,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"syslog"}, Action: specs.ActErrno, Args: args}}}))
	})
	t.Run("not advertised", func(t *testing.T) {
		r.t = t
		if *f.Linux.Cgroup.Systemd || *f.Linux.Selinux.Enabled || *f.Linux.MountExtensions.IDMap.Enabled {
			t.Fatalf("advertises what ocirun cannot do: %+v", f.Linux)
		}
		// Checkpoint support follows the default criu in PATH (criu_test.go checks both answers).
		hostCriu := exec.Command("criu", "check").Run() == nil
		if got := f.Annotations["org.opencontainers.runc.checkpoint.enabled"]; got != strconv.FormatBool(hostCriu) {
			t.Fatalf("checkpoint.enabled %q, but `criu check` passing is %v", got, hostCriu)
		}
		for _, o := range f.MountOptions {
			if o == "remount" || o == "idmap" {
				t.Errorf("advertises mount option %q", o)
			}
		}
	})
}

func capNumber(t *testing.T, name string) uint {
	t.Helper()
	names := map[string]uint{}
	for i, n := range []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
		"LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE",
		"SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
		"SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
		"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"} {
		names["CAP_"+n] = uint(i)
	}
	n, ok := names[name]
	if !ok {
		t.Fatalf("unknown capability %s", name)
	}
	return n
}
