// Command bench measures ocirun against runc and crun on the same bundle,
// interleaved round by round, and prints one table of medians and ratios.
// It is a benchmark, not a test: it never fails a build. Run it with
// `make bench` (as root), which installs runc, crun and busybox-static.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type runtime struct {
	name string
	bin  string
	root string
	// tmp holds the driver's files for each command's output (beside the
	// state roots: on the tmpfs when they are, so that the driver's own file
	// creation is not timed on ext4, seventh round, item 5).
	tmp string
}

func (r runtime) cmd(args ...string) *exec.Cmd {
	return exec.Command(r.bin, append([]string{"--root", r.root}, args...)...)
}

// run runs one runtime command and returns its wall time.
func (r runtime) run(args ...string) (time.Duration, error) {
	cmd := r.cmd(args...)
	// A file, not a pipe: a detached container keeps its stdio open.
	out, _ := os.CreateTemp(r.tmp, "bench-out")
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(out.Name())
		return d, fmt.Errorf("%s %v: %v: %s", r.name, args, err, strings.TrimSpace(string(msg)))
	}
	return d, nil
}

// peakRSS runs one runtime command under GNU time (1.9: %M in KiB) and
// returns its peak resident set (KiB): the largest of the command's and of
// the children it reaped (run's container; not a created init). Not from
// this driver's own wait: Go starts a child with vfork, in the driver's
// memory until it execs, and the kernel counts that memory's peak into the
// child's (exec_mmap), so every runtime measured that way showed the
// driver's own 7-8 MiB. time forks from a small process (~1-2 MiB).
func (r runtime) peakRSS(args ...string) (int64, error) {
	res, err := os.CreateTemp("", "bench-rss")
	if err != nil {
		return 0, err
	}
	defer os.Remove(res.Name())
	defer res.Close()
	out, err := os.CreateTemp("", "bench-out")
	if err != nil {
		return 0, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", res.Name(), r.bin, "--root", r.root}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		return 0, fmt.Errorf("%s %v: %v: %s", r.name, args, err, strings.TrimSpace(string(msg)))
	}
	data, _ := os.ReadFile(res.Name())
	lines := strings.Fields(string(data))
	if len(lines) == 0 {
		return 0, fmt.Errorf("%s %v: no peak RSS from time", r.name, args)
	}
	return strconv.ParseInt(lines[len(lines)-1], 10, 64)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// bundle writes a bundle running args with the busybox rootfs: new pid,
// mount, uts, ipc and network namespaces; ociVersion 1.0.2 so crun 1.8 takes it.
func bundle(dir, rootfs string, args []string, memLimit int64) string {
	spec := specs.Spec{
		Version: "1.0.2",
		Root:    &specs.Root{Path: rootfs, Readonly: true},
		Process: &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"},
			Capabilities:    &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}, Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"}},
			NoNewPrivileges: true},
		Hostname: "bench",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755", "size=65536k"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: "pid"}, {Type: "mount"}, {Type: "uts"}, {Type: "ipc"}, {Type: "network"}},
			Resources:  &specs.LinuxResources{},
		},
	}
	if memLimit > 0 {
		spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &memLimit, Swap: &memLimit}
	}
	os.MkdirAll(dir, 0o755)
	data, _ := json.MarshalIndent(spec, "", " ")
	os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
	return dir
}

type result struct {
	run, lifecycle, exec       []float64    // ms
	execAgain                  []float64    // ms: an exec right after the timed one
	phases                     [5][]float64 // ms: create, state, start, wait for exit, delete
	runRSS, createRSS, initRSS []float64    // KiB
	otherRSS                   [4][]float64 // KiB: start, state, exec, delete
	minMem                     int64
	concurrentWall             []float64 // ms, one per round
	concurrentFail             int       // over all rounds
	size                       int64
}

func main() {
	rounds := flag.Int("rounds", 30, "rounds of each timing")
	rootfs := flag.String("rootfs", "", "busybox rootfs")
	ocirun := flag.String("ocirun", "", "ocirun binary")
	concurrent := flag.Int("concurrent", 100, "containers created at once")
	concurrentRounds := flag.Int("concurrent-rounds", 18, "rounds of the concurrent creates, the runtimes in each of their six orders in turn (a multiple of 6 keeps them balanced); fewer leave the median to the machine: two crun columns differed by up to 8 % with 12")
	crunBin := flag.String("crun", "crun", "crun binary (another runtime to compare with, in its column)")
	runcBin := flag.String("runc", "runc", "runc binary (another runtime to compare with, in its column)")
	stateFS := flag.String("state-fs", "tmpfs", "the state roots' file system: tmpfs (as /run is on most hosts), or work (the work directory's, under $TMPDIR)")
	flag.Parse()
	if *stateFS != "tmpfs" && *stateFS != "work" {
		fmt.Fprintf(os.Stderr, "-state-fs %q: tmpfs or work\n", *stateFS)
		os.Exit(2)
	}
	work, _ := os.MkdirTemp("", "ocirun-bench-")
	defer os.RemoveAll(work)
	// Each runtime's default state root is under /run, a tmpfs on most
	// hosts. On ext4 without a journal (/tmp and /run here) every inode
	// allocation first skips the group's recently freed inodes, a scan whose
	// length depends on what ran before: it moved all three runtimes' create
	// times by up to a factor of two from one run to the next.
	roots := work + "/roots"
	os.Mkdir(roots, 0o700)
	if *stateFS == "tmpfs" {
		if err := syscall.Mount("tmpfs", roots, "tmpfs", 0, "mode=700"); err != nil {
			fmt.Fprintln(os.Stderr, "state roots on a tmpfs:", err)
			os.RemoveAll(work)
			os.Exit(1)
		}
		defer syscall.Unmount(roots, syscall.MNT_DETACH)
	}
	rts := []runtime{{"ocirun", *ocirun, roots + "/ocirun", roots}, {"crun", *crunBin, roots + "/crun", roots}, {"runc", *runcBin, roots + "/runc", roots}}
	res := map[string]*result{}
	trueBundle := bundle(work+"/true", *rootfs, []string{"/bin/true"}, 0)
	sleepBundle := bundle(work+"/sleep", *rootfs, []string{"sleep", "3600"}, 0)
	for _, rt := range rts {
		res[rt.name] = &result{}
		if st, err := os.Stat(mustLook(rt.bin)); err == nil {
			res[rt.name].size = st.Size()
		}
		// The sleeper for exec.
		if _, err := rt.run("run", "-d", "--bundle", sleepBundle, "sleeper"); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	for i := 0; i < *rounds; i++ {
		for _, rt := range rts {
			r := res[rt.name]
			id := fmt.Sprintf("b%d", i)
			if d, err := rt.run("run", "--bundle", trueBundle, id); err == nil {
				r.run = append(r.run, ms(d))
			} else {
				fmt.Fprintln(os.Stderr, err)
			}
			// create + start + wait for exit + delete.
			start := time.Now()
			var marks [6]time.Time
			marks[0] = start
			_, err1 := rt.run("create", "--bundle", trueBundle, id+"c")
			marks[1] = time.Now()
			if err1 == nil {
				rt.cmd("state", id+"c").Run()
			}
			marks[2] = time.Now()
			_, err2 := rt.run("start", id+"c")
			marks[3] = time.Now()
			waitStopped(rt, id+"c")
			marks[4] = time.Now()
			_, err3 := rt.run("delete", id+"c")
			marks[5] = time.Now()
			if err1 == nil && err2 == nil && err3 == nil {
				r.lifecycle = append(r.lifecycle, ms(time.Since(start)))
				for p := range r.phases {
					r.phases[p] = append(r.phases[p], ms(marks[p+1].Sub(marks[p])))
				}
			} else {
				fmt.Fprintln(os.Stderr, rt.name, "lifecycle:", err1, err2, err3)
				rt.run("delete", "--force", id+"c")
			}
			// Untimed: the peak RSS of run and of create, and the waiting
			// init's RSS, a created container left alone for a moment
			// (ocirun's create returns before its init has finished
			// re-executing itself as the small waiter).
			if rss, err := rt.peakRSS("run", "--bundle", trueBundle, id+"r"); err == nil {
				r.runRSS = append(r.runRSS, float64(rss))
			} else {
				fmt.Fprintln(os.Stderr, err)
			}
			rt.run("delete", "--force", id+"r")
			if rss, err := rt.peakRSS("create", "--bundle", trueBundle, id+"w"); err == nil {
				r.createRSS = append(r.createRSS, float64(rss))
				time.Sleep(20 * time.Millisecond)
				r.initRSS = append(r.initRSS, float64(initRSS(rt, id+"w")))
			} else {
				fmt.Fprintln(os.Stderr, err)
			}
			rt.run("delete", "--force", id+"w")
			if d, err := rt.run("exec", "sleeper", "/bin/true"); err == nil {
				r.exec = append(r.exec, ms(d))
			} else {
				fmt.Fprintln(os.Stderr, err)
			}
			// Timed again at once: crun's exec takes 5-6 ms within a few
			// milliseconds of another of its execs, 13-30 ms otherwise
			// (PERFORMANCE.md, tenth round); this row is its fast case.
			if d, err := rt.run("exec", "sleeper", "/bin/true"); err == nil {
				r.execAgain = append(r.execAgain, ms(d))
			} else {
				fmt.Fprintln(os.Stderr, err)
			}
			// And of the other commands the lifecycle and exec use, after the
			// timed execs: an exec before them would decide which of crun's
			// two speeds the first one sees.
			if _, err := rt.run("create", "--bundle", trueBundle, id+"s"); err == nil {
				for k, args := range [][]string{{"start", id + "s"}, {"state", "sleeper"}, {"exec", "sleeper", "/bin/true"}, {"delete", id + "s"}} {
					if k == 3 {
						waitStopped(rt, id+"s")
					}
					if rss, err := rt.peakRSS(args...); err == nil {
						r.otherRSS[k] = append(r.otherRSS[k], float64(rss))
					} else {
						fmt.Fprintln(os.Stderr, err)
					}
				}
			}
			rt.run("delete", "--force", id+"s")
		}
	}
	for _, rt := range rts {
		rt.run("delete", "--force", "sleeper")
		res[rt.name].minMem = minMemory(rt, work, *rootfs)
	}
	// Interleaved like the rest, the runtimes in each of their six orders in
	// turn: what ran just before (a hundred containers made and deleted)
	// weighs on the next, so each runtime goes first, and follows each other
	// one, equally often in every six rounds. (Rotating one order made
	// ocirun follow runc in two rounds of three and crun follow ocirun.)
	orders := [][]int{{0, 1, 2}, {1, 2, 0}, {2, 0, 1}, {0, 2, 1}, {2, 1, 0}, {1, 0, 2}}
	for i := 0; i < *concurrentRounds; i++ {
		for _, j := range orders[i%len(orders)] {
			rt := rts[j]
			wall, fails := concurrentCreates(rt, trueBundle, *concurrent)
			res[rt.name].concurrentWall = append(res[rt.name].concurrentWall, ms(wall))
			res[rt.name].concurrentFail += fails
		}
	}
	printTable(rts, res, *concurrent)
}

func mustLook(bin string) string {
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	return bin
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// initRSS reads the resident set of a created container's waiting init (KiB).
func initRSS(rt runtime, id string) int64 {
	out, err := rt.cmd("state", id).Output()
	if err != nil {
		return 0
	}
	var st struct{ Pid int }
	json.Unmarshal(out, &st)
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return v
		}
	}
	return 0
}

func waitStopped(rt runtime, id string) {
	for i := 0; i < 500; i++ {
		out, _ := rt.cmd("state", id).Output()
		if strings.Contains(string(out), `"stopped"`) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// minMemory finds, by bisection, the smallest memory limit (KiB) at which `run` of /bin/true works.
func minMemory(rt runtime, work, rootfs string) int64 {
	ok := func(kib int64) bool {
		b := bundle(fmt.Sprintf("%s/mem-%s-%d", work, rt.name, kib), rootfs, []string{"/bin/true"}, kib<<10)
		_, err := rt.run("run", "--bundle", b, fmt.Sprintf("mem%d", kib))
		rt.run("delete", "--force", fmt.Sprintf("mem%d", kib))
		return err == nil
	}
	lo, hi := int64(256), int64(64<<10)
	if !ok(hi) {
		return -1
	}
	for hi-lo > 64 {
		mid := (lo + hi) / 2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

func concurrentCreates(rt runtime, bundle string, n int) (time.Duration, int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	fails := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := rt.run("create", "--bundle", bundle, fmt.Sprintf("cc%d", i)); err != nil {
				mu.Lock()
				fails++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	wall := time.Since(start)
	for i := 0; i < n; i++ {
		rt.run("delete", "--force", fmt.Sprintf("cc%d", i))
	}
	return wall, fails
}

func printTable(rts []runtime, res map[string]*result, concurrentN int) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "measure\tocirun\tcrun\trunc\tocirun/crun\tocirun/runc\t")
	row := func(name string, f func(*result) float64, unit string) {
		o, c, r := f(res["ocirun"]), f(res["crun"]), f(res["runc"])
		ratio := func(a, b float64) string {
			if b == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", a/b)
		}
		fmt.Fprintf(w, "%s\t%.1f %s\t%.1f %s\t%.1f %s\t%s\t%s\t\n", name, o, unit, c, unit, r, unit, ratio(o, c), ratio(o, r))
	}
	row("run /bin/true (median)", func(r *result) float64 { return median(r.run) }, "ms")
	row("create+start+delete (median)", func(r *result) float64 { return median(r.lifecycle) }, "ms")
	for p, name := range []string{"create", "state", "start", "state until stopped", "delete"} {
		row("  of which "+name, func(r *result) float64 { return median(r.phases[p]) }, "ms")
	}
	row("exec /bin/true (median)", func(r *result) float64 { return median(r.exec) }, "ms")
	row("  the same, right after another", func(r *result) float64 { return median(r.execAgain) }, "ms")
	row("peak RSS of run", func(r *result) float64 { return median(r.runRSS) / 1024 }, "MiB")
	row("peak RSS of create", func(r *result) float64 { return median(r.createRSS) / 1024 }, "MiB")
	for k, name := range []string{"start", "state", "exec", "delete"} {
		row("peak RSS of "+name, func(r *result) float64 { return median(r.otherRSS[k]) / 1024 }, "MiB")
	}
	row("RSS of the waiting init", func(r *result) float64 { return median(r.initRSS) / 1024 }, "MiB")
	row("smallest memory limit for run", func(r *result) float64 { return float64(r.minMem) / 1024 }, "MiB")
	row(fmt.Sprintf("%d concurrent creates (wall, median of %d)", concurrentN, len(res["ocirun"].concurrentWall)),
		func(r *result) float64 { return median(r.concurrentWall) }, "ms")
	row("  failures (all rounds)", func(r *result) float64 { return float64(r.concurrentFail) }, "")
	row("binary size", func(r *result) float64 { return float64(r.size) / (1 << 20) }, "MiB")
	w.Flush()
	fmt.Printf("(%d rounds interleaved; medians)\n", len(res["ocirun"].run))
}
