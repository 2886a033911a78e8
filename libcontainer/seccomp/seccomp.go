// Package seccomp builds and loads a process's seccomp filter with libseccomp.
package seccomp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// Actions maps the runtime-spec action names to libseccomp's actions.
var Actions = map[string]libseccomp.ScmpAction{
	"SCMP_ACT_KILL":         libseccomp.ActKillThread,
	"SCMP_ACT_KILL_PROCESS": libseccomp.ActKillProcess,
	"SCMP_ACT_KILL_THREAD":  libseccomp.ActKillThread,
	"SCMP_ACT_TRAP":         libseccomp.ActTrap,
	"SCMP_ACT_ERRNO":        libseccomp.ActErrno,
	"SCMP_ACT_TRACE":        libseccomp.ActTrace,
	"SCMP_ACT_ALLOW":        libseccomp.ActAllow,
	"SCMP_ACT_LOG":          libseccomp.ActLog,
	"SCMP_ACT_NOTIFY":       libseccomp.ActNotify,
}

// Operators maps the runtime-spec operator names to libseccomp's.
var Operators = map[string]libseccomp.ScmpCompareOp{
	"SCMP_CMP_NE":        libseccomp.CompareNotEqual,
	"SCMP_CMP_LT":        libseccomp.CompareLess,
	"SCMP_CMP_LE":        libseccomp.CompareLessOrEqual,
	"SCMP_CMP_EQ":        libseccomp.CompareEqual,
	"SCMP_CMP_GE":        libseccomp.CompareGreaterEqual,
	"SCMP_CMP_GT":        libseccomp.CompareGreater,
	"SCMP_CMP_MASKED_EQ": libseccomp.CompareMaskedEqual,
}

// Archs maps the runtime-spec architecture names to libseccomp's names.
var Archs = map[string]string{
	"SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_X32": "x32",
	"SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "arm64",
	"SCMP_ARCH_MIPS": "mips", "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32",
	"SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64": "mipsel64", "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
	"SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_PPC64": "ppc64", "SCMP_ARCH_PPC64LE": "ppc64le",
	"SCMP_ARCH_S390": "s390", "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_RISCV64": "riscv64",
}

// Flags are the SECCOMP_FILTER_FLAG_* names ocirun knows.
var Flags = []string{
	"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
	"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
}

// SupportedFlags are the flags this kernel and libseccomp can apply.
func SupportedFlags() []string {
	out := []string{"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}
	if api, err := libseccomp.GetAPI(); err == nil && api >= 7 {
		out = append(out, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
	}
	return out
}

// Validate checks every name in the config against libseccomp, so an error
// shows at create and not as a half-built container.
func Validate(c *configs.Seccomp) error {
	if _, err := action(c.DefaultAction, c.DefaultErrnoRet); err != nil {
		return fmt.Errorf("defaultAction: %w", err)
	}
	if c.DefaultAction == "SCMP_ACT_NOTIFY" {
		return errors.New("defaultAction: SCMP_ACT_NOTIFY cannot be the default (the runtime's own syscalls would block)")
	}
	for i, a := range c.Architectures {
		if _, ok := Archs[a]; !ok {
			return fmt.Errorf("architectures[%d] %q: unknown", i, a)
		}
	}
	known := map[string]bool{}
	for _, f := range Flags {
		known[f] = true
	}
	for i, f := range c.Flags {
		if !known[f] {
			return fmt.Errorf("flags[%d] %q: unknown", i, f)
		}
	}
	notify := false
	for i, sc := range c.Syscalls {
		if _, err := action(sc.Action, sc.ErrnoRet); err != nil {
			return fmt.Errorf("syscalls[%d].action: %w", i, err)
		}
		notify = notify || sc.Action == "SCMP_ACT_NOTIFY"
		if len(sc.Names) == 0 {
			return fmt.Errorf("syscalls[%d].names: empty", i)
		}
		for _, n := range sc.Names {
			if _, err := libseccomp.GetSyscallFromName(n); err != nil {
				return fmt.Errorf("syscalls[%d].names: unknown syscall %q", i, n)
			}
		}
		for j, a := range sc.Args {
			if _, ok := Operators[a.Op]; !ok {
				return fmt.Errorf("syscalls[%d].args[%d].op %q: unknown", i, j, a.Op)
			}
			if a.Index > 5 {
				return fmt.Errorf("syscalls[%d].args[%d].index %d: syscalls have 6 arguments", i, j, a.Index)
			}
		}
	}
	if notify && c.ListenerPath == "" {
		return errors.New("listenerPath: required when an action is SCMP_ACT_NOTIFY")
	}
	return nil
}

// HasNotify reports whether the filter hands syscalls to a listener.
func HasNotify(c *configs.Seccomp) bool {
	for _, sc := range c.Syscalls {
		if sc.Action == "SCMP_ACT_NOTIFY" {
			return true
		}
	}
	return false
}

func action(name string, errnoRet *uint) (libseccomp.ScmpAction, error) {
	a, ok := Actions[name]
	if !ok {
		return 0, fmt.Errorf("unknown action %q", name)
	}
	switch a {
	case libseccomp.ActErrno, libseccomp.ActTrace:
		code := uint(unix.EPERM)
		if errnoRet != nil {
			code = *errnoRet
		}
		a = a.SetReturnCode(int16(code))
	}
	return a, nil
}

// Load builds the filter and loads it into this process (all threads). It
// returns the notify fd when the filter has SCMP_ACT_NOTIFY rules, else -1.
func Load(c *configs.Seccomp) (int, error) {
	filter, err := build(c)
	if err != nil {
		return -1, err
	}
	defer filter.Release()
	if err := filter.Load(); err != nil {
		return -1, fmt.Errorf("load seccomp filter: %w", err)
	}
	if !HasNotify(c) {
		return -1, nil
	}
	fd, err := filter.GetNotifFd()
	if err != nil {
		return -1, fmt.Errorf("seccomp notify fd: %w", err)
	}
	return int(fd), nil
}

// Export compiles the filter to the BPF program Load would load, with the
// seccomp(2) flags to load it with, for a process that loads it itself (a
// pid 1 in C, which has no libseccomp to compile with). Notify filters are
// not exported: their listener fd comes from libseccomp's own load.
func Export(c *configs.Seccomp) ([]byte, uint32, error) {
	if HasNotify(c) {
		return nil, 0, errors.New("export seccomp filter: SCMP_ACT_NOTIFY needs libseccomp's load")
	}
	filter, err := build(c)
	if err != nil {
		return nil, 0, err
	}
	defer filter.Release()
	fd, err := unix.MemfdCreate("seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, 0, fmt.Errorf("export seccomp filter: %w", err)
	}
	f := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer f.Close()
	if err := filter.ExportBPF(f); err != nil {
		return nil, 0, fmt.Errorf("export seccomp filter: %w", err)
	}
	prog, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<24))
	if err != nil {
		return nil, 0, fmt.Errorf("export seccomp filter: %w", err)
	}
	var flags uint32
	for _, fl := range c.Flags {
		switch fl {
		case "SECCOMP_FILTER_FLAG_LOG":
			flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case "SECCOMP_FILTER_FLAG_SPEC_ALLOW":
			flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
			return nil, 0, errors.New("export seccomp filter: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs libseccomp's load")
		}
	}
	return prog, flags, nil
}

func build(c *configs.Seccomp) (*libseccomp.ScmpFilter, error) {
	def, err := action(c.DefaultAction, c.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	filter, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("new seccomp filter: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			filter.Release()
		}
	}()
	// Our own no_new_privs handling decides; libseccomp must not set it.
	if err := filter.SetNoNewPrivsBit(false); err != nil {
		return nil, err
	}
	for _, a := range c.Architectures {
		arch, err := libseccomp.GetArchFromString(Archs[a])
		if err != nil {
			return nil, fmt.Errorf("architecture %s: %w", a, err)
		}
		if err := filter.AddArch(arch); err != nil {
			return nil, fmt.Errorf("add architecture %s: %w", a, err)
		}
	}
	if err := setFlags(filter, c.Flags); err != nil {
		return nil, err
	}
	for i, sc := range c.Syscalls {
		act, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, err
		}
		if act == def {
			continue // the default already does it; libseccomp refuses such rules
		}
		for _, name := range sc.Names {
			call, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				return nil, fmt.Errorf("syscalls[%d]: unknown syscall %q", i, name)
			}
			if err := addRule(filter, call, act, sc.Args); err != nil {
				return nil, fmt.Errorf("syscalls[%d] %s: %w", i, name, err)
			}
		}
	}
	if err := enosysForNewer(filter, c, def); err != nil {
		return nil, err
	}
	ok = true
	return filter, nil
}

func setFlags(filter *libseccomp.ScmpFilter, flags []string) error {
	for _, f := range flags {
		var err error
		switch f {
		case "SECCOMP_FILTER_FLAG_TSYNC":
			// libseccomp always synchronises every thread; nothing to add.
		case "SECCOMP_FILTER_FLAG_LOG":
			err = filter.SetLogBit(true)
		case "SECCOMP_FILTER_FLAG_SPEC_ALLOW":
			err = filter.SetSSB(true)
		case "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
			err = filter.SetWaitKill(true)
		}
		if err != nil {
			return fmt.Errorf("seccomp flag %s: %w", f, err)
		}
	}
	return nil
}

// addRule adds one rule. Conditions on distinct arguments are ANDed in one
// rule; several conditions on the same argument become one rule each (ORed),
// since libseccomp cannot AND two comparisons of one argument.
func addRule(filter *libseccomp.ScmpFilter, call libseccomp.ScmpSyscall, act libseccomp.ScmpAction, args []configs.SeccompArg) error {
	if len(args) == 0 {
		return filter.AddRule(call, act)
	}
	var conds []libseccomp.ScmpCondition
	seen, repeated := map[uint]bool{}, false
	for _, a := range args {
		cond, err := condition(a)
		if err != nil {
			return err
		}
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
		conds = append(conds, cond)
	}
	if !repeated {
		return filter.AddRuleConditional(call, act, conds)
	}
	for _, c := range conds {
		if err := filter.AddRuleConditional(call, act, []libseccomp.ScmpCondition{c}); err != nil {
			return err
		}
	}
	return nil
}

func condition(a configs.SeccompArg) (libseccomp.ScmpCondition, error) {
	op := Operators[a.Op]
	if op == libseccomp.CompareMaskedEqual {
		return libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
	}
	return libseccomp.MakeCondition(a.Index, op, a.Value)
}

// maxSyscall bounds the syscall numbers a profile could ever name on one architecture.
const maxSyscall = 1024

// enosysForNewer makes every native syscall numbered above the highest one
// the profile names fail with ENOSYS instead of the default action: a
// profile written before clone3 existed then makes libc fall back to clone
// instead of failing with EPERM.
func enosysForNewer(filter *libseccomp.ScmpFilter, c *configs.Seccomp, def libseccomp.ScmpAction) error {
	if def == libseccomp.ActAllow || def == libseccomp.ActLog {
		return nil // nothing is denied by default
	}
	var nums []int
	for _, sc := range c.Syscalls {
		for _, name := range sc.Names {
			if call, err := libseccomp.GetSyscallFromName(name); err == nil && call >= 0 {
				nums = append(nums, int(call))
			}
		}
	}
	if len(nums) == 0 {
		return nil
	}
	sort.Ints(nums)
	enosys := libseccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))
	for nr := nums[len(nums)-1] + 1; nr < maxSyscall; nr++ {
		// libseccomp takes rules only for the syscalls in its own table;
		// newer ones than it knows keep the default action.
		if _, err := libseccomp.ScmpSyscall(nr).GetName(); err != nil {
			continue
		}
		if err := filter.AddRule(libseccomp.ScmpSyscall(nr), enosys); err != nil {
			return fmt.Errorf("ENOSYS rule for syscall %d: %w", nr, err)
		}
	}
	return filter.SetOptimize(2) // a binary tree: the many ENOSYS rules cost a few comparisons
}
