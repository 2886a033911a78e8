package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/ocirun/ocirun/libcontainer/cgroups"
)

// cgFile reads a container's cgroup file from the host: the v1 file in the
// controller's hierarchy where v1 holds it, else the v2 file.
func cgFile(t *testing.T, id, controller, v1file, v2file string) string {
	t.Helper()
	l, err := cgroups.Detect()
	if err != nil {
		t.Fatal(err)
	}
	var p string
	if mp, ok := l.V1[controller]; ok {
		p = filepath.Join(mp, "ocirun", id, v1file)
	} else {
		p = filepath.Join(l.V2, "ocirun", id, v2file)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return strings.TrimSpace(string(data))
}

func hostIsV2(t *testing.T, controller string) bool {
	l, err := cgroups.Detect()
	if err != nil {
		t.Fatal(err)
	}
	_, v1 := l.V1[controller]
	return !v1
}

func TestCgroupMemoryLimitAndOOMEvent(t *testing.T) {
	r := newRT(t)
	limit := int64(32 << 20)
	trigger := t.TempDir()
	// The allocation waits for the test's go-ahead, given once `events` is
	// watching; the hog asks to be the OOM killer's first choice, so the
	// container's pid 1 (sh) lives on for `events --stats` (CI once saw
	// "container not running" there).
	b := bundle(t, []string{"sh", "-c", "while [ ! -e /trigger/go ]; do sleep 0.05; done; " +
		"(echo 1000 > /proc/self/oom_score_adj; head -c 200m /dev/zero | tail); sleep 3600"}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/trigger", Source: trigger, Options: []string{"rbind"}})
	})
	r.ok("run", "-d", "--bundle", b, "oom")
	if got := cgFile(t, "oom", "memory", "memory.limit_in_bytes", "memory.max"); got != strconv.FormatInt(limit, 10) {
		t.Fatalf("memory limit %s", got)
	}
	events := r.cmd("events", "--interval", "10s", "oom")
	out, _ := events.StdoutPipe()
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { events.Process.Kill(); events.Wait() }()
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			switch ev["type"] {
			case "stats": // events prints stats first: it is watching now
				os.WriteFile(filepath.Join(trigger, "go"), nil, 0o644)
			case "oom":
				found <- ev["id"] == "oom"
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatal("events ended without an oom event")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no oom event within 30s")
	}
	var stats map[string]any
	json.Unmarshal([]byte(r.ok("events", "--stats", "oom")), &stats)
	mem := stats["data"].(map[string]any)["memory"].(map[string]any)
	if mem["oom_kill"] == nil || mem["oom_kill"].(float64) < 1 {
		t.Fatalf("stats do not count the OOM kill: %v", mem["oom_kill"])
	}
	r.ok("delete", "--force", "oom")
}

// kernelTCP is still a v1 limit (memory.kmem.tcp.limit_in_bytes); the kernel
// memory limit is gone from 6.x kernels and only warned about.
func TestCgroupMemoryKernelTCP(t *testing.T) {
	r := newRT(t)
	tcp, kernel := int64(16<<20), int64(64<<20)
	b := bundle(t, []string{"sleep", "3600"}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{KernelTCP: &tcp, Kernel: &kernel} //nolint:staticcheck // the deprecated field is what is tested
	})
	res := r.run("run", "-d", "--bundle", b, "val-kmemtcp")
	if res.code != 0 || !strings.Contains(res.stderr, "memory.kernel is ignored") {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if hostIsV2(t, "memory") {
		if !strings.Contains(res.stderr, "kernelTCP is ignored") {
			t.Fatalf("no warning for kernelTCP on v2: %q", res.stderr)
		}
	} else if got := cgFile(t, "val-kmemtcp", "memory", "memory.kmem.tcp.limit_in_bytes", ""); got != strconv.FormatInt(tcp, 10) {
		t.Fatalf("memory.kmem.tcp.limit_in_bytes %s", got)
	}
	r.ok("delete", "--force", "val-kmemtcp")
}

func TestCgroupPidsLimit(t *testing.T) {
	r := newRT(t)
	limit := int64(8)
	out := r.sh("cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max", func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	})
	if out != "8" {
		t.Fatalf("pids.max inside the container: %q", out)
	}
	// A fork past the limit fails.
	res := r.runIn([]string{"sh", "-c", "for i in $(seq 20); do sleep 5 & done; wait"}, func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	})
	if !strings.Contains(res.stderr+res.stdout, "can't fork") {
		t.Fatalf("forks past pids.max did not fail: exit %d, %q %q", res.code, res.stdout, res.stderr)
	}
}

func TestCgroupCPUWritten(t *testing.T) {
	r := newRT(t)
	quota, period, shares := int64(20000), uint64(100000), uint64(512)
	b := bundle(t, []string{"sleep", "3600"}, func(s *specs.Spec) {
		s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares}
	})
	r.ok("run", "-d", "--bundle", b, "cpu")
	if hostIsV2(t, "cpu") {
		if got := cgFile(t, "cpu", "cpu", "", "cpu.max"); got != "20000 100000" {
			t.Errorf("cpu.max %q", got)
		}
		if got := cgFile(t, "cpu", "cpu", "", "cpu.weight"); got != strconv.FormatUint(cgroups.SharesToWeight(shares), 10) {
			t.Errorf("cpu.weight %q", got)
		}
	} else {
		if got := cgFile(t, "cpu", "cpu", "cpu.cfs_quota_us", ""); got != "20000" {
			t.Errorf("cfs_quota_us %q", got)
		}
		if got := cgFile(t, "cpu", "cpu", "cpu.cfs_period_us", ""); got != "100000" {
			t.Errorf("cfs_period_us %q", got)
		}
		if got := cgFile(t, "cpu", "cpu", "cpu.shares", ""); got != "512" {
			t.Errorf("cpu.shares %q", got)
		}
	}
	r.ok("delete", "--force", "cpu")
}

func TestCgroupDeviceRules(t *testing.T) {
	r := newRT(t)
	major, minor := int64(1), int64(3)
	deny := func(s *specs.Spec) {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: false, Type: "c", Major: &major, Minor: &minor, Access: "rwm"},
		}
	}
	if out := r.sh("echo x > /dev/null 2>&1 && echo allowed || echo denied; head -c 1 /dev/zero | wc -c", deny); out != "denied\n1" {
		t.Fatalf("deny /dev/null: %q", out)
	}
	allow := func(s *specs.Spec) {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rw"},
		}
	}
	if out := r.sh("echo x > /dev/null && echo allowed", allow); out != "allowed" {
		t.Fatalf("allow /dev/null: %q", out)
	}
	// Default deny: a device the rules do not allow is refused even when its node exists.
	mem := func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11}}
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: &major, Minor: ptr(int64(11)), Access: "rwm"})
	}
	if out := r.sh("head -c 1 /dev/kmsg >/dev/null 2>&1 && echo allowed || echo denied", mem); out != "denied" {
		t.Fatalf("/dev/kmsg: %q", out)
	}
}

func ptr[T any](v T) *T { return &v }

func TestCgroupUpdate(t *testing.T) {
	r := newRT(t)
	r.running("upd", nil)
	r.ok("update", "--memory", "48m", "--pids-limit", "30", "--cpu-quota", "30000", "--cpu-period", "100000", "upd")
	if got := cgFile(t, "upd", "memory", "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(48<<20) {
		t.Errorf("memory after update: %s", got)
	}
	if got := cgFile(t, "upd", "pids", "pids.max", "pids.max"); got != "30" {
		t.Errorf("pids after update: %s", got)
	}
	// --resources - as containerd's shim sends it.
	cmd := r.cmd("update", "--resources", "-", "upd")
	cmd.Stdin = strings.NewReader(`{"memory": {"limit": 67108864}, "pids": {"limit": 40}}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update --resources -: %v %s", err, out)
	}
	if got := cgFile(t, "upd", "memory", "memory.limit_in_bytes", "memory.max"); got != "67108864" {
		t.Errorf("memory after --resources: %s", got)
	}
	if got := cgFile(t, "upd", "pids", "pids.max", "pids.max"); got != "40" {
		t.Errorf("pids after --resources: %s", got)
	}
	if res := r.run("update", "--memory", "lots", "upd"); res.code == 0 || !strings.Contains(res.stderr, "--memory") {
		t.Errorf("bad --memory: exit %d, %q", res.code, res.stderr)
	}
	r.ok("delete", "--force", "upd")
	if res := r.run("update", "--memory", "10m", "upd"); res.code == 0 {
		t.Error("update of a deleted container succeeded")
	}
}

func TestCgroupPauseResume(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	b := bundle(t, []string{"sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /count/n; sleep 0.01; done"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/count", Source: dir, Options: []string{"rbind"}})
	})
	r.ok("run", "-d", "--bundle", b, "pz")
	count := func() int {
		// The shell truncates the file before it writes the next number
		// (a read in between saw 0): read until a number is there, or the
		// container stays paused between the two.
		for i := 0; i < 50; i++ {
			data, _ := os.ReadFile(filepath.Join(dir, "n"))
			if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				return n
			}
			time.Sleep(2 * time.Millisecond)
		}
		return 0
	}
	waitFile(t, filepath.Join(dir, "n"))
	r.ok("pause", "pz")
	if s := r.status("pz"); s != "paused" {
		t.Fatalf("status after pause: %s", s)
	}
	a := count()
	time.Sleep(300 * time.Millisecond)
	if b := count(); b != a {
		t.Fatalf("the counter moved while paused: %d → %d", a, b)
	}
	if res := r.run("exec", "pz", "true"); res.code != 255 || !strings.Contains(res.stderr, "paused") {
		t.Fatalf("exec into a paused container: exit %d, %q", res.code, res.stderr)
	}
	if res := r.run("pause", "pz"); res.code == 0 {
		t.Fatal("pausing a paused container succeeded")
	}
	r.ok("resume", "pz")
	if s := r.status("pz"); s != "running" {
		t.Fatalf("status after resume: %s", s)
	}
	time.Sleep(300 * time.Millisecond)
	if c := count(); c <= a {
		t.Fatalf("the counter did not move after resume: %d", c)
	}
	// A paused container can be deleted with --force.
	r.ok("pause", "pz")
	r.ok("delete", "--force", "pz")
	r.assertEmptyRoot()
}

func TestCgroupStatsAndPs(t *testing.T) {
	r := newRT(t)
	r.running("st", nil)
	var ev struct {
		Type string
		ID   string
		Data cgroups.Stats
	}
	if err := json.Unmarshal([]byte(r.ok("events", "--stats", "st")), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "stats" || ev.ID != "st" || ev.Data.Memory.Usage.Usage == 0 || ev.Data.Pids.Current < 1 || ev.Data.CPU.Usage.Total == 0 {
		t.Fatalf("stats: %+v", ev)
	}
	var pids []int
	if err := json.Unmarshal([]byte(r.ok("ps", "--format", "json", "st")), &pids); err != nil {
		t.Fatal(err)
	}
	initPid := int(r.state("st")["pid"].(float64))
	if len(pids) != 1 || pids[0] != initPid {
		t.Fatalf("ps: %v, want [%d]", pids, initPid)
	}
	table := r.ok("ps", "st")
	if !strings.Contains(table, "PID") || !strings.Contains(table, "sleep 3600") {
		t.Fatalf("ps table: %q", table)
	}
	r.ok("delete", "--force", "st")
}

func TestCgroupKillAllAndCleanup(t *testing.T) {
	r := newRT(t)
	b := bundle(t, []string{"sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & wait"}, func(s *specs.Spec) {
		// Share the host's pid namespace: only the cgroup can find every process.
		withoutNamespace(s, specs.PIDNamespace)
	})
	r.ok("run", "-d", "--bundle", b, "ka")
	var pids []int
	for i := 0; i < 100 && len(pids) < 3; i++ {
		json.Unmarshal([]byte(r.ok("ps", "--format", "json", "ka")), &pids)
		time.Sleep(20 * time.Millisecond)
	}
	if len(pids) != 3 {
		t.Fatalf("pids %v", pids)
	}
	r.ok("kill", "--all", "ka", "KILL")
	for _, p := range pids {
		if !processGone(p) {
			t.Errorf("pid %d survived kill --all", p)
		}
	}
	r.waitStatus("ka", "stopped")
	r.ok("delete", "ka")
	l, _ := cgroups.Detect()
	for _, mp := range append(mapValues(l.V1), l.V2) {
		if mp == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(mp, "ocirun", "ka")); err == nil {
			t.Errorf("cgroup %s left behind", filepath.Join(mp, "ocirun", "ka"))
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestCgroupsPathOption(t *testing.T) {
	r := newRT(t)
	path := fmt.Sprintf("/ocirun-test/custom-%d", time.Now().UnixNano())
	out := r.sh("cat /proc/self/cgroup", func(s *specs.Spec) {
		s.Linux.CgroupsPath = path
		// Without a cgroup namespace the container sees its host path.
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.CgroupNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	})
	// In every hierarchy: the v1 ones pid 1 joins through their tasks
	// files, the unified one it is cloned into.
	if out == "" {
		t.Fatal("the container shows no cgroups")
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(l, ":"+path) {
			t.Errorf("the container is not in %s in every hierarchy: %q", path, l)
		}
	}
	if res := r.runIn([]string{"true"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:ocirun:x" }); res.code == 0 || !strings.Contains(res.stderr, "systemd") {
		t.Fatalf("systemd-style path: exit %d, %q", res.code, res.stderr)
	}
	if res := r.run("--systemd-cgroup", "list"); res.code == 0 || !strings.Contains(res.stderr, "systemd") {
		t.Fatalf("--systemd-cgroup: exit %d, %q", res.code, res.stderr)
	}
}

// TestCgroupV2Only covers what exists on a unified host only: raw unified
// keys, the swap conversion, and the refusals of v1-only knobs.
func TestCgroupV2Only(t *testing.T) {
	l, err := cgroups.Detect()
	if err != nil {
		t.Fatal(err)
	}
	if !l.Unified {
		t.Skip("this host's controllers are on cgroup v1: tests/vm/run.sh runs this on cgroup v2")
	}
	r := newRT(t)
	limit, swap := int64(64<<20), int64(96<<20)
	b := bundle(t, []string{"sleep", "3600"}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap}
		s.Linux.Resources.Unified = map[string]string{"memory.high": "50331648"}
	})
	r.ok("run", "-d", "--bundle", b, "v2")
	if got := cgFile(t, "v2", "memory", "", "memory.swap.max"); got != strconv.Itoa(32<<20) {
		t.Errorf("memory.swap.max %s: want swap minus limit", got)
	}
	if got := cgFile(t, "v2", "memory", "", "memory.high"); got != "50331648" {
		t.Errorf("unified memory.high %s", got)
	}
	r.ok("delete", "--force", "v2")
	yes := true
	rt := int64(1000)
	for name, mutate := range map[string]func(*specs.Spec){
		"disableOOMKiller": func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{DisableOOMKiller: &yes} },
		"realtime":         func(s *specs.Spec) { s.Linux.Resources.CPU = &specs.LinuxCPU{RealtimeRuntime: &rt} },
	} {
		if res := r.runIn([]string{"true"}, mutate); res.code == 0 || !strings.Contains(res.stderr, "cgroup v2") {
			t.Errorf("%s on v2: exit %d, %q", name, res.code, res.stderr)
		}
	}
	r.assertEmptyRoot()
}

// TestCgroupTinyMemoryLimit: on a v1 memory hierarchy the init joins its
// memory cgroup only when it is set up, so the Go init's pages are charged
// outside and a 1 MiB container still runs /bin/true; a created container's
// init is in the memory cgroup all the same. Not with a cgroup namespace or a
// cgroupfs mount (both need the init in its cgroups first): the test's
// container has neither.
func TestCgroupTinyMemoryLimit(t *testing.T) {
	if hostIsV2(t, "memory") {
		t.Skip("memory is on cgroup v2 here: the init is cloned into its cgroup and charged there")
	}
	r := newRT(t)
	limit := int64(1 << 20)
	b := bundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace })
		s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Type == "cgroup" })
	})
	if res := r.run("run", "--bundle", b, "tiny"); res.code != 0 {
		t.Fatalf("run with a 1 MiB memory limit: exit %d: %s", res.code, res.stderr)
	}
	r.ok("create", "--bundle", b, "tinyc")
	defer r.run("delete", "--force", "tinyc")
	pid := int(r.state("tinyc")["pid"].(float64))
	procs := cgFile(t, "tinyc", "memory", "cgroup.procs", "cgroup.procs")
	if !slices.Contains(strings.Fields(procs), strconv.Itoa(pid)) {
		t.Fatalf("created init %d is not in its memory cgroup (cgroup.procs: %q)", pid, procs)
	}
	r.ok("start", "tinyc")
	r.waitStatus("tinyc", "stopped")
}

// TestCgroupLateLimitFailureCleansUp: limits other than memory's are written
// while the init starts (create.go); when one cannot be applied, create
// fails with one line naming linux.resources and leaves no state, no
// cgroup and no process behind.
func TestCgroupLateLimitFailureCleansUp(t *testing.T) {
	r := newRT(t)
	cases := map[string]func(*specs.Spec){
		"cpuset": func(s *specs.Spec) {
			s.Linux.Resources.CPU = &specs.LinuxCPU{Cpus: "999"}
		},
	}
	l, err := cgroups.Detect()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.V1["net_cls"]; !ok && !l.Unified {
		id := uint32(7)
		cases["net_cls"] = func(s *specs.Spec) { s.Linux.Resources.Network = &specs.LinuxNetwork{ClassID: &id} }
	}
	for name, mutate := range cases {
		id := "late-" + name
		b := bundle(t, []string{"true"}, mutate)
		res := r.run("create", "--bundle", b, id)
		if res.code == 0 || !strings.Contains(res.stderr, "linux.resources") || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
			t.Fatalf("%s: exit %d, stderr %q", name, res.code, res.stderr)
		}
		r.assertEmptyRoot()
		for _, mp := range append(mapValues(l.V1), l.V2) {
			if mp == "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(mp, "ocirun", id)); err == nil {
				t.Errorf("%s: cgroup %s left behind", name, filepath.Join(mp, "ocirun", id))
			}
		}
		if res := r.run("delete", "--force", id); res.code != 0 {
			t.Errorf("%s: delete --force after the failed create: %s", name, res.stderr)
		}
	}
}

// A create into a cgroup that holds another container's processes fails
// with runc's words for it, and leaves nothing: no state, the other
// container and its cgroup untouched.
func TestCgroupWithProcessesRefused(t *testing.T) {
	r := newRT(t)
	path := fmt.Sprintf("/ocirun-test/busy-%d", time.Now().UnixNano())
	withPath := func(s *specs.Spec) { s.Linux.CgroupsPath = path }
	r.running("busy1", withPath)
	b := bundle(t, []string{"true"}, withPath)
	res := r.run("create", "--bundle", b, "busy2")
	if res.code == 0 || !strings.Contains(res.stderr, "the cgroup already has processes") || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(r.root, "busy2")); !os.IsNotExist(err) {
		t.Fatalf("busy2's state is left: %v", err)
	}
	if st := r.status("busy1"); st != "running" {
		t.Fatalf("busy1 is %s", st)
	}
	r.ok("delete", "--force", "busy1")
	l, _ := cgroups.Detect()
	for _, dir := range l.V1 {
		os.Remove(filepath.Join(dir, path))
	}
	if l.V2 != "" {
		os.Remove(filepath.Join(l.V2, path))
	}
}

// TestCgroupNestedRemovedByDelete: a container that makes cgroups of its own
// inside its cgroup (systemd, a nested runtime) leaves them to delete, as
// runc removes them: deepest first, in every hierarchy, without waiting on
// them as if they were processes on their way out. A process in one of
// them is the container's too: ps lists it (past a threaded cgroup, whose
// process list cannot be read) and delete --force kills it (the container
// shares the host's pid namespace, so only the cgroup finds it).
func TestCgroupNestedRemovedByDelete(t *testing.T) {
	r := newRT(t)
	id := fmt.Sprintf("nested-%d", time.Now().UnixNano())
	report := t.TempDir()
	b := bundle(t, []string{"sh", "-c", "sleep 1000 & echo $! > /report/pid; wait"}, func(s *specs.Spec) {
		withoutNamespace(s, specs.PIDNamespace)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/report", Source: report, Options: []string{"rbind"}})
	})
	r.ok("run", "-d", "--bundle", b, id)
	var pid int
	if _, err := fmt.Sscan(waitFile(t, filepath.Join(report, "pid")), &pid); err != nil {
		t.Fatal(err)
	}
	l, err := cgroups.Detect()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	seen := map[string]bool{}
	for _, mp := range append(mapValues(l.V1), l.V2) {
		if mp == "" || seen[mp] {
			continue // co-mounted controllers (cpu,cpuacct) share one
		}
		seen[mp] = true
		dir := filepath.Join(mp, "ocirun", id)
		if _, err := os.Stat(dir); err != nil {
			continue // a hierarchy the container has no cgroup in
		}
		for _, sub := range []string{"init.scope", "system.slice", "system.slice/a.service", "system.slice/b.service"} {
			if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
			// A v1 cpuset cgroup takes no task until given cpus and mems.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if v, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					os.WriteFile(filepath.Join(dir, sub, f), v, 0o644)
				}
			}
		}
		// The sleep moves to the deepest cgroup where it may go.
		if err := os.WriteFile(filepath.Join(dir, "system.slice/a.service/cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatalf("move %d into a nested cgroup of %s: %v", pid, dir, err)
		}
		// A threaded cgroup lists no processes of its own (EOPNOTSUPP on
		// cgroup.procs; cgroup2 only): the walk must go on past it.
		threads := filepath.Join(dir, "system.slice/a.service/threads")
		if err := os.Mkdir(threads, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(threads, "cgroup.type")); err == nil {
			if err := os.WriteFile(filepath.Join(threads, "cgroup.type"), []byte("threaded"), 0o644); err != nil {
				t.Fatalf("make %s threaded: %v", threads, err)
			}
		}
		dirs = append(dirs, dir)
	}
	if len(dirs) == 0 {
		t.Fatal("the container has no cgroup directory")
	}
	var pids []int
	json.Unmarshal([]byte(r.ok("ps", "--format", "json", id)), &pids)
	if !slices.Contains(pids, pid) {
		t.Errorf("ps lists %v, not %d in a nested cgroup", pids, pid)
	}
	start := time.Now()
	r.ok("delete", "--force", id)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("delete took %v", took)
	}
	if !processGone(pid) {
		t.Errorf("pid %d in a nested cgroup survived delete --force", pid)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("cgroup %s left behind", dir)
		}
	}
}
