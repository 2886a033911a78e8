package specconv

import (
	"errors"
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10, specs.SchedFlagUtilClampMin: 0x20,
	specs.SchedFlagUtilClampMax: 0x40,
}

var ioprioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

// convertProcess validates process and turns it into the engine's Process.
func convertProcess(p *specs.Process) (*configs.Process, error) {
	if len(p.Args) == 0 {
		return nil, errors.New("process.args: must not be empty")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return nil, fmt.Errorf("process.cwd %q must be an absolute path", p.Cwd)
	}
	out := &configs.Process{
		Args: p.Args, Env: p.Env, Cwd: p.Cwd, Terminal: p.Terminal,
		UID: p.User.UID, GID: p.User.GID, AdditionalGids: p.User.AdditionalGids, Umask: p.User.Umask,
		NoNewPrivileges: p.NoNewPrivileges, OOMScoreAdj: p.OOMScoreAdj,
	}
	if p.ConsoleSize != nil {
		out.ConsoleHeight, out.ConsoleWidth = uint16(p.ConsoleSize.Height), uint16(p.ConsoleSize.Width)
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return nil, fmt.Errorf("process.oomScoreAdj %d: must be between -1000 and 1000", *p.OOMScoreAdj)
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		t, ok := rlimitTypes[r.Type]
		if !ok {
			return nil, fmt.Errorf("process.rlimits[%d].type %q: unknown", i, r.Type)
		}
		if seen[r.Type] {
			return nil, fmt.Errorf("process.rlimits[%d].type %q: given twice", i, r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return nil, fmt.Errorf("process.rlimits[%d] %s: soft limit %d is above hard limit %d", i, r.Type, r.Soft, r.Hard)
		}
		out.Rlimits = append(out.Rlimits, configs.Rlimit{Type: t, Hard: r.Hard, Soft: r.Soft})
	}
	caps, err := convertCapabilities(p.Capabilities)
	if err != nil {
		return nil, err
	}
	out.Capabilities = caps
	if s := p.Scheduler; s != nil {
		pol, ok := schedPolicies[s.Policy]
		if !ok {
			return nil, fmt.Errorf("process.scheduler.policy %q: unknown", s.Policy)
		}
		cs := &configs.Scheduler{Policy: pol, Nice: s.Nice, Priority: uint32(s.Priority),
			Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period}
		for _, f := range s.Flags {
			v, ok := schedFlags[f]
			if !ok {
				return nil, fmt.Errorf("process.scheduler.flags %q: unknown", f)
			}
			cs.Flags |= v
		}
		out.Scheduler = cs
	}
	if io := p.IOPriority; io != nil {
		c, ok := ioprioClasses[io.Class]
		if !ok {
			return nil, fmt.Errorf("process.ioPriority.class %q: unknown", io.Class)
		}
		if io.Priority < 0 || io.Priority > 7 {
			return nil, fmt.Errorf("process.ioPriority.priority %d: must be 0 to 7", io.Priority)
		}
		out.IOPriority = &configs.IOPriority{Class: c, Priority: int(io.Priority)}
	}
	out.ApparmorProfile = p.ApparmorProfile
	if p.SelinuxLabel != "" {
		return nil, fmt.Errorf("process.selinuxLabel %q: SELinux is not supported by ocirun yet", p.SelinuxLabel)
	}
	return out, nil
}

// ConvertProcess validates a runtime-spec Process on its own, as `exec --process` passes one.
func ConvertProcess(p *specs.Process) (*configs.Process, error) {
	return convertProcess(p)
}
