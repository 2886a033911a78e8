package specconv

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// validSpec is the example spec with a real directory as its rootfs.
func validSpec(t *testing.T) *specs.Spec {
	s := Example()
	s.Root.Path = t.TempDir()
	return s
}

func TestConvertRejectsBadFields(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*specs.Spec)
		want   string
	}{
		{"no version", func(s *specs.Spec) { s.Version = "" }, "ociVersion: required"},
		{"version 2", func(s *specs.Spec) { s.Version = "2.0.0" }, `ociVersion "2.0.0"`},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path: required"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"unknown cap", func(s *specs.Spec) { s.Process.Capabilities.Effective = []string{"CAP_NOPE"} }, `process.capabilities.effective: unknown capability "CAP_NOPE"`},
		{"soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2, Hard: 1}}
		}, "soft limit 2 is above hard limit 1"},
		{"duplicate namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "pid namespace given twice"},
		{"user namespace without a mount namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.UTSNamespace}}
		}, "a user namespace needs a mount namespace too"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		}, "hostname: setting it needs a uts namespace"},
		{"mappings without userns", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		}, "only allowed with a new user namespace"},
		{"relative mount destination", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "rel", Type: "tmpfs"})
		}, `mounts[7].destination "rel"`},
		{"mount without type", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x"})
		}, "mounts[7]: type is required"},
		{"bad device type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}}
		}, `linux.devices[0].type "z"`},
		{"relative hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "hook"}}}
		}, `hooks.poststop[0].path "hook"`},
		{"zero hook timeout", func(s *specs.Spec) {
			zero := 0
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}}
		}, "hooks.createRuntime[0].timeout"},
		{"bad propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, `linux.rootfsPropagation "sideways"`},
		{"time offsets without timens", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1}}
		}, "linux.timeOffsets"},
		{"bad ioprio", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 9}
		}, "process.ioPriority.priority 9"},
		{"bad scheduler", func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_NOPE"}
		}, `process.scheduler.policy "SCHED_NOPE"`},
		{"oom score out of range", func(s *specs.Spec) { v := 1001; s.Process.OOMScoreAdj = &v }, "process.oomScoreAdj 1001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec(t)
			tt.mutate(s)
			_, err := Convert(s, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConvertMountOptions(t *testing.T) {
	s := validSpec(t)
	bundle := t.TempDir()
	s.Mounts = []specs.Mount{
		{Destination: "/a", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755", "size=1m", "rw"}},
		{Destination: "/b", Source: ".", Options: []string{"rbind", "ro", "rprivate", "rro", "suid"}},
	}
	cfg, err := Convert(s, bundle)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Mounts[0], cfg.Mounts[1]
	if a.Flags != unix.MS_NOSUID|unix.MS_NODEV || a.Data != "mode=755,size=1m" || a.ClearFlags != unix.MS_RDONLY {
		t.Errorf("tmpfs: %+v", a)
	}
	if b.Source != bundle || b.Flags != unix.MS_BIND|unix.MS_REC|unix.MS_RDONLY || b.ClearFlags != unix.MS_NOSUID ||
		len(b.Propagation) != 1 || b.Propagation[0] != unix.MS_PRIVATE|unix.MS_REC || b.RecAttrSet != unix.MOUNT_ATTR_RDONLY {
		t.Errorf("bind: %+v", b)
	}
}

func TestConvertDefaults(t *testing.T) {
	s := validSpec(t)
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}}
	cfg, err := Convert(s, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Devices) != len(defaultDevices) {
		t.Errorf("devices: %d, want the defaults without a duplicate /dev/null", len(cfg.Devices))
	}
	if cfg.Process.Capabilities == nil || len(cfg.Process.Capabilities.Bounding) != 3 {
		t.Errorf("capabilities: %+v", cfg.Process.Capabilities)
	}
}

func TestRelativeRootIsUnderBundle(t *testing.T) {
	bundle := t.TempDir()
	s := Example()
	s.Root.Path = "."
	cfg, err := Convert(s, bundle)
	if err != nil || cfg.Rootfs != bundle {
		t.Fatalf("rootfs %q, err %v", cfg.Rootfs, err)
	}
}

// process is optional until start (runtime-spec config.md).
func TestConvertWithoutProcess(t *testing.T) {
	s := validSpec(t)
	s.Process = nil
	cfg, err := Convert(s, t.TempDir())
	if err != nil || !cfg.NoProcess || cfg.Process == nil {
		t.Fatalf("cfg %+v, err %v", cfg, err)
	}
}
