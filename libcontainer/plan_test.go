package libcontainer

import (
	"testing"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// Which exec'd processes C applies (the rest keep the Go init).
func TestPlanAppliesToExec(t *testing.T) {
	many := make([]uint32, 65537)
	cases := []struct {
		name   string
		mutate func(*configs.Config)
		want   bool
	}{
		{"plain", func(*configs.Config) {}, true},
		{"terminal", func(c *configs.Config) { c.Process.Terminal = true }, false},
		{"apparmor", func(c *configs.Config) { c.Process.ApparmorProfile = "p" }, false},
		{"scheduler", func(c *configs.Config) { c.Process.Scheduler = &configs.Scheduler{} }, false},
		{"io priority", func(c *configs.Config) { c.Process.IOPriority = &configs.IOPriority{} }, false},
		{"personality", func(c *configs.Config) { c.Personality = &configs.Personality{} }, false},
		{"too many groups", func(c *configs.Config) { c.Process.AdditionalGids = many }, false},
		{"NUL in an arg", func(c *configs.Config) { c.Process.Args = []string{"sh", "a\x00b"} }, false},
		{"NUL in env", func(c *configs.Config) { c.Process.Env = []string{"A=\x00"} }, false},
		{"NUL in cwd", func(c *configs.Config) { c.Process.Cwd = "/\x00" }, false},
		{"invalid UTF-8 in an arg", func(c *configs.Config) { c.Process.Args = []string{"touch", "\xff"} }, false},
		{"UTF-8 in an arg", func(c *configs.Config) { c.Process.Args = []string{"touch", "é"} }, true},
		{"filter allowing all it needs", func(c *configs.Config) {
			c.Seccomp = &configs.Seccomp{DefaultAction: "SCMP_ACT_ALLOW", Syscalls: []configs.SeccompSyscall{
				{Names: []string{"mkdir"}, Action: "SCMP_ACT_ERRNO"}}}
		}, true},
		{"filter denying capset", func(c *configs.Config) {
			c.Seccomp = &configs.Seccomp{DefaultAction: "SCMP_ACT_ALLOW", Syscalls: []configs.SeccompSyscall{
				{Names: []string{"capset"}, Action: "SCMP_ACT_ERRNO"}}}
		}, false},
		{"allow list without prlimit64", func(c *configs.Config) {
			c.Seccomp = &configs.Seccomp{DefaultAction: "SCMP_ACT_ERRNO", Syscalls: []configs.SeccompSyscall{
				{Names: []string{"capset", "prctl", "write", "execve", "exit_group"}, Action: "SCMP_ACT_ALLOW"}}}
		}, false},
		{"seccomp notify", func(c *configs.Config) {
			c.Seccomp = &configs.Seccomp{DefaultAction: "SCMP_ACT_ALLOW", ListenerPath: "/l", Syscalls: []configs.SeccompSyscall{
				{Names: []string{"mkdir"}, Action: "SCMP_ACT_NOTIFY"}}}
		}, false},
	}
	for _, tc := range cases {
		cfg := &configs.Config{Process: &configs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}}}
		tc.mutate(cfg)
		if got := planApplies(cfg, execSyscalls); got != tc.want {
			t.Errorf("%s: planApplies = %v, want %v", tc.name, got, tc.want)
		}
	}
}
