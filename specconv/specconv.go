// Package specconv is the one place where a runtime-spec config.json becomes
// libcontainer's configs.Config. Every field is read and validated here, and
// every error names the field it is about.
package specconv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/capabilities"
	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/jsonlite"
)

// LoadSpec reads and decodes <bundle>/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: no such file (is --bundle right?)", path)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	// jsonlite decodes as encoding/json does, without its per-type set-up
	// of runtime-spec's types; anything unusual takes encoding/json's way.
	var spec specs.Spec
	if err := jsonlite.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &spec, nil
}

// Convert validates a spec and turns it into a Config. bundle must be absolute.
func Convert(spec *specs.Spec, bundle string) (*configs.Config, error) {
	if err := checkVersion(spec.Version); err != nil {
		return nil, err
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return nil, errors.New("root.path: required")
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if st, err := os.Stat(rootfs); err != nil {
		return nil, fmt.Errorf("root.path %q: %w", spec.Root.Path, unwrapPathErr(err))
	} else if !st.IsDir() {
		return nil, fmt.Errorf("root.path %q: not a directory", spec.Root.Path)
	}
	if resolved, err := filepath.EvalSymlinks(rootfs); err == nil {
		rootfs = resolved
	}
	cfg := &configs.Config{
		OCIVersion:  spec.Version,
		Rootfs:      rootfs,
		Readonlyfs:  spec.Root.Readonly,
		Hostname:    spec.Hostname,
		Domainname:  spec.Domainname,
		Annotations: spec.Annotations,
	}
	if spec.Linux == nil {
		return nil, errors.New("linux: required on Linux")
	}
	if err := convertLinux(cfg, spec.Linux); err != nil {
		return nil, err
	}
	if cfg.Hostname != "" && !cfg.Has("uts") {
		return nil, errors.New("hostname: setting it needs a uts namespace")
	}
	if cfg.Domainname != "" && !cfg.Has("uts") {
		return nil, errors.New("domainname: setting it needs a uts namespace")
	}
	for i, m := range spec.Mounts {
		cm, err := convertMount(i, m, bundle)
		if err != nil {
			return nil, err
		}
		cfg.Mounts = append(cfg.Mounts, cm)
	}
	if spec.Process == nil {
		// Optional until start: the container is made, start will refuse.
		cfg.Process, cfg.NoProcess = &configs.Process{Cwd: "/"}, true
	} else {
		p, err := convertProcess(spec.Process)
		if err != nil {
			return nil, err
		}
		cfg.Process = p
	}
	var err error
	if spec.Hooks != nil {
		if cfg.Hooks, err = convertHooks(spec.Hooks); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// checkVersion accepts runtime-spec 1.x configs.
func checkVersion(v string) error {
	if v == "" {
		return errors.New("ociVersion: required")
	}
	if !strings.HasPrefix(v, "1.") {
		return fmt.Errorf("ociVersion %q: ocirun supports runtime-spec 1.x", v)
	}
	return nil
}

func convertLinux(cfg *configs.Config, l *specs.Linux) error {
	if err := convertNamespaces(cfg, l); err != nil {
		return err
	}
	if l.RootfsPropagation != "" {
		p, ok := propagationFlags[l.RootfsPropagation]
		if !ok {
			return fmt.Errorf("linux.rootfsPropagation %q: unknown", l.RootfsPropagation)
		}
		cfg.Propagation = p
	}
	for i, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("linux.maskedPaths[%d] %q must be an absolute path", i, p)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("linux.readonlyPaths[%d] %q must be an absolute path", i, p)
		}
	}
	cfg.MaskPaths, cfg.RoPaths = l.MaskedPaths, l.ReadonlyPaths
	devs, err := convertDevices(l.Devices)
	if err != nil {
		return err
	}
	cfg.Devices = devs
	if err := checkSysctls(cfg, l.Sysctl); err != nil {
		return err
	}
	cfg.Sysctl = l.Sysctl
	cfg.CgroupsPath = l.CgroupsPath
	res, err := ConvertResources(l.Resources)
	if err != nil {
		return err
	}
	if res == nil {
		res = &configs.Resources{}
	}
	cfg.Resources = res
	if l.Personality != nil {
		switch l.Personality.Domain {
		case specs.PerLinux:
			cfg.Personality = &configs.Personality{Domain: 0x0000}
		case specs.PerLinux32:
			cfg.Personality = &configs.Personality{Domain: 0x0008}
		default:
			return fmt.Errorf("linux.personality.domain %q: unknown", l.Personality.Domain)
		}
	}
	var sc *configs.Seccomp
	sc, err = convertSeccomp(l.Seccomp)
	if err != nil {
		return err
	}
	cfg.Seccomp = sc
	cfg.Resources.Devices = deviceRules(cfg.Resources.Devices, cfg.Devices)
	if l.IntelRdt != nil {
		return errors.New("linux.intelRdt: not supported by ocirun")
	}
	return nil
}

// defaultDevices are the nodes every container gets (runtime-spec "Default Devices").
var defaultDevices = []*configs.Device{
	{Path: "/dev/null", Type: 'c', Major: 1, Minor: 3, FileMode: 0o666},
	{Path: "/dev/zero", Type: 'c', Major: 1, Minor: 5, FileMode: 0o666},
	{Path: "/dev/full", Type: 'c', Major: 1, Minor: 7, FileMode: 0o666},
	{Path: "/dev/random", Type: 'c', Major: 1, Minor: 8, FileMode: 0o666},
	{Path: "/dev/urandom", Type: 'c', Major: 1, Minor: 9, FileMode: 0o666},
	{Path: "/dev/tty", Type: 'c', Major: 5, Minor: 0, FileMode: 0o666},
}

func convertDevices(devs []specs.LinuxDevice) ([]*configs.Device, error) {
	var out []*configs.Device
	seen := map[string]bool{}
	for i, d := range devs {
		field := fmt.Sprintf("linux.devices[%d]", i)
		if !filepath.IsAbs(d.Path) {
			return nil, fmt.Errorf("%s.path %q must be an absolute path", field, d.Path)
		}
		if len(d.Type) != 1 || !strings.Contains("cbup", d.Type) {
			return nil, fmt.Errorf("%s.type %q: must be c, b, u or p", field, d.Type)
		}
		cd := &configs.Device{Path: filepath.Clean(d.Path), Type: rune(d.Type[0]), Major: d.Major, Minor: d.Minor, FileMode: 0o666}
		if d.FileMode != nil {
			cd.FileMode = *d.FileMode
		}
		if d.UID != nil {
			cd.UID = *d.UID
		}
		if d.GID != nil {
			cd.GID = *d.GID
		}
		seen[cd.Path] = true
		out = append(out, cd)
	}
	for _, d := range defaultDevices {
		if !seen[d.Path] {
			dd := *d
			out = append(out, &dd)
		}
	}
	return out, nil
}

// checkSysctls allows only sysctls that belong to a namespace the container owns.
func checkSysctls(cfg *configs.Config, sysctl map[string]string) error {
	for k := range sysctl {
		switch {
		case strings.HasPrefix(k, "net."):
			if !cfg.Has("network") {
				return fmt.Errorf("linux.sysctl %q needs a network namespace", k)
			}
		case strings.HasPrefix(k, "fs.mqueue.") || k == "kernel.msgmax" || k == "kernel.msgmnb" ||
			k == "kernel.msgmni" || k == "kernel.sem" || k == "kernel.shmall" || k == "kernel.shmmax" ||
			k == "kernel.shmmni" || k == "kernel.shm_rmid_forced":
			if !cfg.Has("ipc") {
				return fmt.Errorf("linux.sysctl %q needs an ipc namespace", k)
			}
		case k == "kernel.hostname" || k == "kernel.domainname":
			if !cfg.Has("uts") {
				return fmt.Errorf("linux.sysctl %q needs a uts namespace", k)
			}
		default:
			return fmt.Errorf("linux.sysctl %q is not namespaced: it would change the host", k)
		}
	}
	return nil
}

func convertHooks(h *specs.Hooks) (configs.Hooks, error) {
	conv := func(kind string, in []specs.Hook) ([]configs.Hook, error) {
		var out []configs.Hook
		for i, hk := range in {
			if !filepath.IsAbs(hk.Path) {
				return nil, fmt.Errorf("hooks.%s[%d].path %q must be an absolute path", kind, i, hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return nil, fmt.Errorf("hooks.%s[%d].timeout must be greater than zero", kind, i)
			}
			out = append(out, configs.Hook{Path: hk.Path, Args: hk.Args, Env: hk.Env, Timeout: hk.Timeout})
		}
		return out, nil
	}
	var out configs.Hooks
	var err error
	pairs := []struct {
		kind string
		in   []specs.Hook
		dst  *[]configs.Hook
	}{
		{"prestart", h.Prestart, &out.Prestart}, //nolint:staticcheck // deprecated but still honoured
		{"createRuntime", h.CreateRuntime, &out.CreateRuntime},
		{"createContainer", h.CreateContainer, &out.CreateContainer},
		{"startContainer", h.StartContainer, &out.StartContainer},
		{"poststart", h.Poststart, &out.Poststart},
		{"poststop", h.Poststop, &out.Poststop},
	}
	for _, p := range pairs {
		if *p.dst, err = conv(p.kind, p.in); err != nil {
			return out, err
		}
	}
	return out, nil
}

func convertCapabilities(c *specs.LinuxCapabilities) (*configs.Capabilities, error) {
	if c == nil {
		return nil, nil
	}
	conv := func(set string, names []string) ([]int, error) {
		out := make([]int, 0, len(names))
		for _, n := range names {
			v, err := capabilities.FromName(n)
			if err != nil {
				return nil, fmt.Errorf("process.capabilities.%s: %w", set, err)
			}
			out = append(out, v)
		}
		return out, nil
	}
	var out configs.Capabilities
	var err error
	if out.Bounding, err = conv("bounding", c.Bounding); err != nil {
		return nil, err
	}
	if out.Effective, err = conv("effective", c.Effective); err != nil {
		return nil, err
	}
	if out.Inheritable, err = conv("inheritable", c.Inheritable); err != nil {
		return nil, err
	}
	if out.Permitted, err = conv("permitted", c.Permitted); err != nil {
		return nil, err
	}
	if out.Ambient, err = conv("ambient", c.Ambient); err != nil {
		return nil, err
	}
	return &out, nil
}

// rlimitTypes maps RLIMIT_* names to their numbers.
var rlimitTypes = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// RlimitNames lists the rlimit types ocirun knows.
func RlimitNames() []string {
	var out []string
	for k := range rlimitTypes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
