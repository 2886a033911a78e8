package libcontainer

import (
	"testing"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

func TestSeccompAllowsAll(t *testing.T) {
	names := []string{"execveat", "accept4"}
	cases := []struct {
		s    *configs.Seccomp
		want bool
	}{
		{nil, true},
		{&configs.Seccomp{DefaultAction: "SCMP_ACT_ALLOW"}, true},
		{&configs.Seccomp{DefaultAction: "SCMP_ACT_ERRNO"}, false},
		{&configs.Seccomp{DefaultAction: "SCMP_ACT_ERRNO", Syscalls: []configs.SeccompSyscall{
			{Names: []string{"execveat", "accept4"}, Action: "SCMP_ACT_ALLOW"}}}, true},
		// A conditional allow is not sure to allow.
		{&configs.Seccomp{DefaultAction: "SCMP_ACT_ERRNO", Syscalls: []configs.SeccompSyscall{
			{Names: []string{"execveat", "accept4"}, Action: "SCMP_ACT_ALLOW", Args: []configs.SeccompArg{{Index: 4, Value: 0, Op: "SCMP_CMP_EQ"}}}}}, false},
		// Default allow, but a rule denies one.
		{&configs.Seccomp{DefaultAction: "SCMP_ACT_ALLOW", Syscalls: []configs.SeccompSyscall{
			{Names: []string{"execveat"}, Action: "SCMP_ACT_KILL"}}}, false},
	}
	for i, c := range cases {
		if got := seccompAllowsAll(c.s, names); got != c.want {
			t.Errorf("case %d: got %v, want %v", i, got, c.want)
		}
	}
}
