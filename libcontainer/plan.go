package libcontainer

import (
	"encoding/binary"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ocirun/ocirun/libcontainer/capabilities"
	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/seccomp"
)

// A process's plan is what the user's process inherits (ids, capabilities,
// no_new_privs, the seccomp filter, rlimits, umask, cwd, environment),
// encoded for the C that applies it where no Go init runs (nsenter/plan.c):
// a pid 1 the parent builds (parent_build.go), which then waits for start,
// and the process of `exec` (exec.go), which execs at once.

// Flags of the plan. Keep in step with nsenter/plan.h.
const (
	planNoNewPrivs = 1
	planUmask      = 2
	planKeyring    = 4
	planHome       = 8
)

type processPlan struct {
	proc     *configs.Process
	env      []string // the process's environment
	home     bool     // add HOME from the container's /etc/passwd where env has none (found in C)
	keyring  string   // the session keyring to join, "" for none
	preserve int      // the caller's fds 3.. kept open
	bpf      []byte   // the compiled seccomp filter, if any
	sflags   uint32   // its seccomp(2) flags
}

// planApplies tells whether C can apply the process exactly as the Go init
// would: nothing only the Go init does (a terminal, AppArmor, a scheduler,
// I/O priority, a personality, seccomp notify), nothing C could only take
// differently (more groups than the kernel allows: the Go init's setgroups
// error; strings C would not pass as the Go init gets them, see asIs), and
// a filter that surely allows the syscalls made under it.
func planApplies(cfg *configs.Config, underFilter []string) bool {
	p := cfg.Process
	if p == nil || p.Terminal || p.ApparmorProfile != "" || p.Scheduler != nil || p.IOPriority != nil || cfg.Personality != nil {
		return false
	}
	notAsIs := func(s string) bool { return !asIs(s) }
	if len(p.AdditionalGids) > 65536 || !asIs(p.Cwd) || slices.ContainsFunc(p.Args, notAsIs) || slices.ContainsFunc(p.Env, notAsIs) {
		return false
	}
	if s := cfg.Seccomp; s != nil && (seccomp.HasNotify(s) ||
		slices.Contains(s.Flags, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") || !seccompAllowsAll(s, underFilter)) {
		return false
	}
	return true
}

func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

// asIs tells whether the Go init gets the string as C would: with no NUL
// (C cuts it there, the Go init's syscalls refuse it) and valid UTF-8
// (the JSON that carries the Go init's config replaces invalid bytes, as
// runc's does; exec's arguments come from a command line, raw).
func asIs(s string) bool { return !hasNUL(s) && utf8.ValidString(s) }

// encode lays the plan out as nsenter/plan.c's plan_apply reads it.
func (pl *processPlan) encode() ([]byte, error) {
	p := pl.proc
	last, err := capabilities.Last()
	if err != nil {
		return nil, err
	}
	b := binary.LittleEndian.AppendUint32(nil, p.UID)
	b = binary.LittleEndian.AppendUint32(b, p.GID)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.AdditionalGids)))
	for _, g := range p.AdditionalGids {
		b = binary.LittleEndian.AppendUint32(b, g)
	}
	caps := p.Capabilities
	if caps == nil {
		caps = &configs.Capabilities{}
	}
	for _, set := range [][]int{caps.Bounding, caps.Effective, caps.Permitted, caps.Inheritable, caps.Ambient} {
		b = binary.LittleEndian.AppendUint64(b, capMask(set))
	}
	var flags, umask uint32
	if p.NoNewPrivileges {
		flags |= planNoNewPrivs
	}
	if p.Umask != nil {
		flags, umask = flags|planUmask, *p.Umask
	}
	if pl.keyring != "" {
		flags |= planKeyring
	}
	if pl.home {
		flags |= planHome
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(last))
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint32(b, umask)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Rlimits)))
	for _, r := range p.Rlimits {
		b = binary.LittleEndian.AppendUint32(b, uint32(r.Type))
		b = binary.LittleEndian.AppendUint64(b, r.Soft)
		b = binary.LittleEndian.AppendUint64(b, r.Hard)
	}
	b = appendField(b, []byte(p.Cwd))
	b = appendField(b, []byte(pl.keyring))
	b = binary.LittleEndian.AppendUint32(b, uint32(pl.preserve))
	b = binary.LittleEndian.AppendUint32(b, pl.sflags)
	b = appendField(b, pl.bpf)
	b = appendStrings(b, p.Args)
	return appendStrings(b, pl.env), nil
}

func capMask(set []int) uint64 {
	var m uint64
	for _, n := range set {
		if n >= 0 && n < 64 {
			m |= 1 << n
		}
	}
	return m
}

// appendField appends a u32 length, the bytes and a NUL (plan.c reads them in place).
func appendField(b []byte, s []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(append(b, s...), 0)
}

func appendStrings(b []byte, v []string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	for _, s := range v {
		b = appendField(b, []byte(s))
	}
	return b
}
