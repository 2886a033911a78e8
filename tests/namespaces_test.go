package tests

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/ocirun/ocirun/specconv"
)

func runHost(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return &hostErr{name, err, string(out)}
	}
	return nil
}

type hostErr struct {
	name string
	err  error
	out  string
}

func (e *hostErr) Error() string { return e.name + ": " + e.err.Error() + ": " + e.out }

func TestUserNamespace(t *testing.T) {
	r := newRT(t)
	out := r.sh("cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | tr '\\n' ';'; id -u; stat -c %u /proc/1", func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
	})
	if out != "0 200000 65536; 0 300000 65536;0\n0" {
		t.Fatalf("got %q", out)
	}
}

func TestUserNamespaceHostView(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Process.User = specs.User{UID: 1000, GID: 1000}
	})
	r.ok("run", "-d", "--bundle", b, "uh")
	pid := int(r.state("uh")["pid"].(float64))
	status, _ := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if !strings.Contains(string(status), "Uid:\t201000\t201000\t201000\t201000") {
		t.Fatalf("host view of the container process's uid: %s", status)
	}
	r.ok("delete", "--force", "uh")
}

func TestJoinNamespaceByPath(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sleep", "3600"}, func(s *specs.Spec) { s.Hostname = "first" })
	r.ok("run", "-d", "--bundle", b, "first")
	pid := itoa(int(r.state("first")["pid"].(float64)))
	out := r.sh("hostname; readlink /proc/self/ns/net", func(s *specs.Spec) {
		s.Hostname = ""
		for i, ns := range s.Linux.Namespaces {
			switch ns.Type {
			case specs.UTSNamespace:
				s.Linux.Namespaces[i].Path = "/proc/" + pid + "/ns/uts"
			case specs.NetworkNamespace:
				s.Linux.Namespaces[i].Path = "/proc/" + pid + "/ns/net"
			}
		}
	})
	netns, _ := os.Readlink("/proc/" + pid + "/ns/net")
	if out != "first\n"+netns {
		t.Fatalf("got %q, want hostname first and %s", out, netns)
	}
	r.ok("delete", "--force", "first")
}

func TestTimeNamespace(t *testing.T) {
	r := newRT(t)
	out := r.sh("cut -d. -f1 /proc/uptime", func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 86400 * 365}}
	})
	if len(out) < 8 { // a year of uptime is at least 31536000 seconds
		t.Fatalf("uptime %q: the boottime offset was not applied", out)
	}
}

func TestSysctl(t *testing.T) {
	r := newRT(t)
	out := r.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni", func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
	})
	if out != "1\n1234" {
		t.Fatalf("got %q", out)
	}
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i))
}

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

// Without a mount namespace the container shares ours (runtime-spec: a
// namespace not listed is inherited): its mounts are made here under a bind
// of the rootfs that it is chrooted into, "/" keeps its propagation, exec
// sees the same tree, and delete leaves no mount behind.
func TestNoMountNamespace(t *testing.T) {
	r := newRT(t)
	hostMnt, _ := os.Readlink("/proc/self/ns/mnt")
	rootLine := func() string {
		data, _ := os.ReadFile("/proc/self/mountinfo")
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[4] == "/" {
				return l
			}
		}
		return ""
	}
	rootBefore := rootLine()
	b := bundle(t, []string{"sh", "-c", "echo inside > /scratch/marker; readlink /proc/self/ns/mnt > /scratch/ns; sleep 3600"}, func(s *specs.Spec) {
		withoutNamespace(s, specs.MountNamespace)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs"})
	})
	r.ok("run", "-d", "--bundle", b, "val-nomntns")
	var out string
	for i := 0; i < 100 && !strings.Contains(out, "inside"); i++ {
		out = r.ok("exec", "val-nomntns", "sh", "-c", "cat /scratch/marker /scratch/ns; touch /x 2>/dev/null || echo read-only; test -c /dev/null && echo dev")
	}
	if want := "inside\n" + hostMnt + "\nread-only\ndev\n"; out != want {
		t.Fatalf("exec saw %q, want %q", out, want)
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); !strings.Contains(string(mounts), testEnv.rootfs+"/scratch") {
		t.Fatal("the container's mounts are not in the runtime's mount namespace")
	}
	if got := rootLine(); got != rootBefore {
		t.Fatalf("the host's / changed: %q, was %q", got, rootBefore)
	}
	r.ok("delete", "--force", "val-nomntns")
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), testEnv.rootfs) {
		t.Fatal("delete left the container's mounts in the runtime's mount namespace")
	}
	r.assertEmptyRoot()
}

func TestUserNamespaceNeedsMountNamespace(t *testing.T) {
	r := newRT(t)
	res := r.runIn([]string{"true"}, func(s *specs.Spec) {
		specconv.ToRootless(s)
		withoutNamespace(s, specs.MountNamespace)
	})
	if res.code == 0 || !strings.Contains(res.stderr, "a user namespace needs a mount namespace too") {
		t.Fatalf("exit %d, %q", res.code, res.stderr)
	}
	r.assertEmptyRoot()
}

// withoutNamespace removes a namespace type from the spec: the container inherits ours.
func withoutNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != t {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
}

// TestNewNetworkNamespace: the parent makes a container's new network
// namespace (netns.go) and the init joins it: each container gets its own,
// not the host's, with only a loopback device, sysctls land in it and not on
// the host, and the init holds no fd of it.
func TestNewNetworkNamespace(t *testing.T) {
	r := newRT(t)
	hostNS, _ := os.Readlink("/proc/self/ns/net")
	hostForward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	b := bundle(t, []string{"sleep", "3600"}, func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	})
	seen := map[string]bool{}
	for _, id := range []string{"net1", "net2"} {
		r.ok("run", "-d", "--bundle", b, id)
		defer r.run("delete", "--force", id)
		pid := itoa(int(r.state(id)["pid"].(float64)))
		ns, err := os.Readlink("/proc/" + pid + "/ns/net")
		if err != nil || ns == hostNS || seen[ns] {
			t.Fatalf("%s: network namespace %q (%v); host's %q, seen %v", id, ns, err, hostNS, seen)
		}
		seen[ns] = true
		fds, _ := os.ReadDir("/proc/" + pid + "/fd")
		for _, fd := range fds {
			if target, _ := os.Readlink("/proc/" + pid + "/fd/" + fd.Name()); strings.HasPrefix(target, "net:") {
				t.Errorf("%s: the container's process holds fd %s on %s", id, fd.Name(), target)
			}
		}
		out := r.ok("exec", id, "sh", "-c", "ls /sys/class/net 2>/dev/null || cut -d: -f1 /proc/net/dev | tail -n +3; cat /proc/sys/net/ipv4/ip_forward")
		if strings.Fields(out)[0] != "lo" || len(strings.Fields(out)) != 2 || strings.Fields(out)[1] != "1" {
			t.Fatalf("%s: devices and ip_forward in the container: %q", id, out)
		}
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(hostForward) {
		t.Fatalf("the host's ip_forward changed: %q, was %q", now, hostForward)
	}
}
