package specconv

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	libseccomp "github.com/seccomp/libseccomp-golang"

	"github.com/ocirun/ocirun/libcontainer/capabilities"
	"github.com/ocirun/ocirun/libcontainer/cgroups"
	"github.com/ocirun/ocirun/libcontainer/seccomp"
)

// HostInfo is what `features` reports that depends on the host, not on ocirun.
type HostInfo struct {
	AppArmor    bool
	Annotations map[string]string
}

// Features describes what ocirun accepts, from the same tables Convert
// validates with: an option that is listed here is one Convert takes and
// the engine applies.
func Features(host HostInfo) *features.Features {
	t, f := true, false
	var opts []string
	for _, o := range MountOptions() {
		if o != "remount" { // only meaningful on an existing mount, never at create
			opts = append(opts, o)
		}
	}
	caps, err := capabilities.Grantable()
	if err != nil {
		caps = nil
	}
	layout, _ := cgroups.Detect()
	v1, v2 := layout != nil && len(layout.V1) > 0, layout != nil && layout.V2 != ""
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  opts,
		Linux: &features.Linux{
			Namespaces:   NamespaceTypes(),
			Capabilities: caps,
			Cgroup:       &features.Cgroup{V1: &v1, V2: &v2, Systemd: &f, SystemdUser: &f, Rdma: &t},
			Seccomp: &features.Seccomp{
				Enabled:        &t,
				Actions:        keys(seccomp.Actions),
				Operators:      keys(seccomp.Operators),
				Archs:          supportedArchs(),
				KnownFlags:     seccomp.Flags,
				SupportedFlags: seccomp.SupportedFlags(),
			},
			Apparmor:        &features.Apparmor{Enabled: &host.AppArmor},
			Selinux:         &features.Selinux{Enabled: &f},
			IntelRdt:        &features.IntelRdt{Enabled: &f},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &f}},
		},
		Annotations: host.Annotations,
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// supportedArchs lists the seccomp architectures a filter here can hold:
// libseccomp refuses to mix some (mips on x86_64), so each is tried.
func supportedArchs() []string {
	var out []string
	for name, lib := range seccomp.Archs {
		arch, err := libseccomp.GetArchFromString(lib)
		if err != nil {
			continue
		}
		filter, err := libseccomp.NewFilter(libseccomp.ActAllow)
		if err != nil {
			continue
		}
		if err := filter.AddArch(arch); err == nil {
			out = append(out, name)
		}
		filter.Release()
	}
	sort.Strings(out)
	return out
}
