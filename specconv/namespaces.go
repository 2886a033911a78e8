package specconv

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// namespaceTypes are the runtime-spec namespace types ocirun makes and joins.
var namespaceTypes = []specs.LinuxNamespaceType{
	specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
	specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace, specs.TimeNamespace,
}

// NamespaceTypes lists them as strings (for `features`).
func NamespaceTypes() []string {
	out := make([]string, len(namespaceTypes))
	for i, t := range namespaceTypes {
		out[i] = string(t)
	}
	return out
}

func convertNamespaces(cfg *configs.Config, l *specs.Linux) error {
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		known := false
		for _, t := range namespaceTypes {
			known = known || t == ns.Type
		}
		if !known {
			return fmt.Errorf("linux.namespaces[%d].type %q: unknown", i, ns.Type)
		}
		if seen[ns.Type] {
			return fmt.Errorf("linux.namespaces[%d]: %s namespace given twice", i, ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" {
			if _, err := os.Stat(ns.Path); err != nil {
				return fmt.Errorf("linux.namespaces[%d].path %q: %w", i, ns.Path, unwrapPathErr(err))
			}
		}
		cfg.Namespaces = append(cfg.Namespaces, configs.Namespace{Type: string(ns.Type), Path: ns.Path})
	}
	// Without a mount namespace the container inherits ours (and its mounts
	// are made in it), which only the host's own user namespace may change.
	if !seen[specs.MountNamespace] && seen[specs.UserNamespace] {
		return errors.New("linux.namespaces: a user namespace needs a mount namespace too (the runtime's mount namespace belongs to the host's user namespace)")
	}
	newUser := seen[specs.UserNamespace] && cfg.NamespacePath("user") == ""
	if newUser {
		if len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0 {
			return errors.New("linux.uidMappings and linux.gidMappings: required with a new user namespace")
		}
	} else if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
		return errors.New("linux.uidMappings: only allowed with a new user namespace")
	}
	for _, m := range l.UIDMappings {
		cfg.UIDMappings = append(cfg.UIDMappings, configs.IDMap{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	for _, m := range l.GIDMappings {
		cfg.GIDMappings = append(cfg.GIDMappings, configs.IDMap{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	if len(l.TimeOffsets) > 0 {
		if !seen[specs.TimeNamespace] || cfg.NamespacePath("time") != "" {
			return errors.New("linux.timeOffsets: only allowed with a new time namespace")
		}
		var b strings.Builder
		keys := make([]string, 0, len(l.TimeOffsets))
		for k := range l.TimeOffsets {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, clock := range keys {
			if clock != "monotonic" && clock != "boottime" {
				return fmt.Errorf("linux.timeOffsets %q: only monotonic and boottime can be offset", clock)
			}
			off := l.TimeOffsets[clock]
			fmt.Fprintf(&b, "%s %d %d\n", clock, off.Secs, off.Nanosecs)
		}
		cfg.TimeOffsets = b.String()
	}
	return nil
}
