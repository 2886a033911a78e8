package specconv

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/seccomp"
)

// convertSeccomp copies linux.seccomp and checks every name in it.
func convertSeccomp(s *specs.LinuxSeccomp) (*configs.Seccomp, error) {
	if s == nil {
		return nil, nil
	}
	out := &configs.Seccomp{
		DefaultAction:    string(s.DefaultAction),
		DefaultErrnoRet:  s.DefaultErrnoRet,
		ListenerPath:     s.ListenerPath,
		ListenerMetadata: s.ListenerMetadata,
	}
	for _, a := range s.Architectures {
		out.Architectures = append(out.Architectures, string(a))
	}
	for _, f := range s.Flags {
		out.Flags = append(out.Flags, string(f))
	}
	for _, sc := range s.Syscalls {
		cs := configs.SeccompSyscall{Names: sc.Names, Action: string(sc.Action), ErrnoRet: sc.ErrnoRet}
		for _, a := range sc.Args {
			cs.Args = append(cs.Args, configs.SeccompArg{Index: a.Index, Value: a.Value, ValueTwo: a.ValueTwo, Op: string(a.Op)})
		}
		out.Syscalls = append(out.Syscalls, cs)
	}
	if err := seccomp.Validate(out); err != nil {
		return nil, fmt.Errorf("linux.seccomp.%w", err)
	}
	return out, nil
}
