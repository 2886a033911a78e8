package libcontainer

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/nsenter"
)

// cloneFlags maps runtime-spec namespace types to their CLONE_NEW* flags.
var cloneFlags = map[string]uint32{
	"pid":     unix.CLONE_NEWPID,
	"network": unix.CLONE_NEWNET,
	"mount":   unix.CLONE_NEWNS,
	"ipc":     unix.CLONE_NEWIPC,
	"uts":     unix.CLONE_NEWUTS,
	"user":    unix.CLONE_NEWUSER,
	"cgroup":  unix.CLONE_NEWCGROUP,
	"time":    unix.CLONE_NEWTIME,
}

// bootstrapFor turns the config's namespaces into the constructor's bootstrap.
func bootstrapFor(cfg *configs.Config) (*nsenter.Bootstrap, error) {
	bs := &nsenter.Bootstrap{}
	for _, ns := range cfg.Namespaces {
		flag, ok := cloneFlags[ns.Type]
		if !ok {
			return nil, fmt.Errorf("unknown namespace type %q", ns.Type)
		}
		if ns.Path == "" {
			bs.CloneFlags |= flag
		} else {
			bs.Join = append(bs.Join, nsenter.NsPath{Flag: flag, Path: ns.Path})
		}
	}
	if bs.CloneFlags&unix.CLONE_NEWTIME != 0 {
		bs.TimeOffsets = cfg.TimeOffsets
	}
	return bs, nil
}
