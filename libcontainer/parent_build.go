package libcontainer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/cgroups"
	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/nsenter"
	"github.com/ocirun/ocirun/libcontainer/seccomp"
)

// A create usually starts three programs in series: ocirun, the Go init
// (a second Go runtime, ~2 ms here before it does any work, and only after
// its pid namespace exists) and the C waiter it re-executes. For the common
// container the parent builds it itself instead:
//
//  1. a thread of the parent, the builder, starts with create: it leaves
//     the process's shared fs state and makes the container's network,
//     ipc, uts and mount namespaces (startBuilder);
//  2. the parent clones pid 1 into a new pid namespace, running our sealed
//     binary's C constructor alone (nsenter/pid1.c), which joins the
//     builder's namespaces and takes its root; it makes the cgroup
//     meanwhile (on a host without cgroup2; else first, and pid 1 is cloned
//     into it);
//  3. the builder builds the rootfs with the code the Go init runs
//     (prepareRootfs, pivot_root, hostname, sysctl, masked and read-only
//     paths); pid 1 makes the proc mounts, whose pid namespace is their
//     maker's, and joins its cgroups when the builder sends them (after the
//     last proc mount, while the builder goes on), before pivot_root, which
//     moves pid 1's root with the thread's; the thread then ends, never to
//     run anything else;
//  4. meanwhile the parent saves the state, writes the limits and compiles
//     the seccomp filter;
//  5. pid 1 gets the process's plan (ids, capabilities, no_new_privs, the
//     filter, rlimits, umask, cwd, environment) and applies it as the Go init
//     would, then waits for start like the waiter (waiter.c).
//
// What needs the Go init (parentBuilds): a user namespace (a thread cannot
// join one), namespaces joined by path, a time namespace, hooks other than
// poststart and poststop, a terminal, --no-pivot, AppArmor, a scheduler,
// I/O priority or personality, seccomp notify, a bind from /proc.

// Messages between the parent and a pid 1 it builds for. Keep in step with pid1.c and plan.h.
const (
	msgPid1Joined  = 20 // pid 1 → parent: in its cgroups (and cgroup namespace)
	msgPid1Mount   = 21 // parent → pid 1: u32 flags, source, type, data; the target's fd attached
	msgPid1Mounted = 22 // pid 1 → parent: u32 errno, 0 when mounted
	msgPid1Plan    = 23 // parent → pid 1 (or exec's process): the process (processPlan); pid 1 answers msgReady or an error
	msgPid1Join    = 24 // parent → pid 1: u32 cgroupns, the tasks files; the memory cgroup's attached if late
)

// pid1Syscalls are the syscalls pid 1 makes under the container's filter:
// without no_new_privs it is loaded before the capabilities (capset, prctl)
// and the rlimits (prlimit64); then the wait (waiter.c).
var pid1Syscalls = []string{
	"capset", "prctl", "prlimit64", "write", "close", "rt_sigaction", "rt_sigprocmask",
	"accept4", "read", "execve", "exit_group",
}

// parentBuilds tells whether create may build the container from the parent
// (see above): root on the host, a process without a terminal, new mount and
// pid namespaces, and none of what needs the Go init.
func parentBuilds(cfg *configs.Config, opts *CreateOpts) bool {
	if opts.GoInit || os.Geteuid() != 0 || cfg.NoProcess || opts.ConsoleSocket != nil || opts.NoPivot || !planApplies(cfg, pid1Syscalls) {
		return false
	}
	if !cfg.Has("mount") || !cfg.Has("pid") {
		return false
	}
	for _, ns := range cfg.Namespaces {
		if ns.Path != "" || ns.Type == "user" || ns.Type == "time" {
			return false
		}
	}
	h := cfg.Hooks
	if len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer)+len(h.StartContainer) > 0 {
		return false
	}
	for _, m := range cfg.Mounts {
		if m.Type == "proc" && (hasNUL(m.Source) || hasNUL(m.Data)) {
			return false
		}
		if m.IsBind() && bindsFromProc(m.Source) {
			return false
		}
	}
	return true
}

// pid1Cgroup is the container's cgroup as pid 1 joins it: the v1 tasks
// files it writes "0" to, the memory cgroup's when it joins that last
// (openLateMemcg), or why the cgroup could not be made.
type pid1Cgroup struct {
	cg    *cgroups.Manager
	tasks []string
	memcg *os.File
	err   error
}

// bindsFromProc tells whether a bind source is, or leads through a symlink
// to, something under /proc (or cannot be resolved): the builder thread
// resolves /proc/self as ocirun, in the host's namespaces, where the Go init
// resolved it as itself, in the container's (a bind of /proc/self/ns/net
// would hand the container the host's network namespace). Those keep the Go init.
func bindsFromProc(src string) bool {
	resolved, err := filepath.EvalSymlinks(src)
	if err != nil {
		return true
	}
	return resolved == "/proc" || strings.HasPrefix(resolved, "/proc/")
}

// createBuiltByParent is createInit for a container the parent builds: it
// makes the cgroup while pid 1 is cloned where it can (on a host without a
// cgroup2 hierarchy, where pid 1 joins every cgroup itself), else first (pid
// 1 is cloned straight into its cgroup2 cgroup).
func (c *Container) createBuiltByParent(opts *CreateOpts, b *builderThread) error {
	cfg := opts.Config
	mounts, err := b.cgroupMounts()
	if err != nil {
		return err
	}
	layout, err := cgroups.DetectFrom(mounts)
	if err != nil {
		return err
	}
	// The cgroup, with the config encoded for the state on the way: both
	// are needed only once pid 1 joins and the state is saved.
	made, madeDone := make(chan pid1Cgroup, 1), make(chan struct{})
	makeCgroup := func() {
		defer close(madeDone)
		r := pid1Cgroup{}
		if r.err = c.state.SetConfig(cfg); r.err == nil {
			r.cg, r.err = c.makeCgroupIn(layout, cfg)
		}
		if r.err == nil {
			r.memcg, r.tasks, r.err = openLateMemcg(r.cg, cfg, r.cg.V1Tasks())
		}
		made <- r
	}
	// Received once, by whichever goroutine needs it first; always before we return.
	cgroup := sync.OnceValue(func() pid1Cgroup { return <-made })
	defer func() {
		if r := cgroup(); r.memcg != nil {
			r.memcg.Close()
		}
	}()
	var cgroupDir *os.File
	if layout.V2 != "" {
		makeCgroup()
		r := cgroup()
		if r.err != nil {
			return r.err
		}
		if cgroupDir, _ = r.cg.OpenV2Dir(); cgroupDir != nil {
			defer cgroupDir.Close()
		}
	} else {
		go makeCgroup()
	}
	f, err := c.openInitFiles()
	if err != nil {
		return err
	}
	defer f.close()
	ns, err := b.ready()
	if err != nil {
		return err
	}
	pid, _, err := startInit(opts.Root, cgroupDir, opts.Stdin, opts.Stdout, opts.Stderr, opts.PreserveFds,
		pid1Kind(cfg, ns), f.passed(ns.files[:]...)...)
	f.started()
	if err != nil {
		return err
	}
	if err := c.recordInit(pid); err != nil {
		return err
	}

	// The thread builds while this goroutine does the rest.
	b.start <- builderStart{pid: pid, sock: f.parent, cgroup: cgroup, cgroupMade: func() bool {
		select {
		case <-madeDone:
			return true
		default:
			return false
		}
	}}
	bpf, sflags, err := c.whileBuilt(pid, cfg, cgroup)
	r := <-b.done
	if err != nil {
		return err
	}
	if r.err != nil {
		return r.err
	}
	pl := processPlan{proc: cfg.Process, env: r.env, preserve: opts.PreserveFds, bpf: bpf, sflags: sflags}
	if !opts.NoNewKeyring {
		pl.keyring = "_ses." + c.id
	}
	plan, err := pl.encode()
	if err != nil {
		return err
	}
	if err := nsenter.WriteMsg(f.parent, msgPid1Plan, plan); err != nil {
		return fmt.Errorf("send the process to init: %w", err)
	}
	if err := expectPid1(f.parent, msgReady, nil); err != nil {
		return err
	}
	c.state.Creating = false
	return saveState(c.dir, c.state)
}

// pid1Kind is how pid 1 is started: cloned into the namespaces the builder
// has not made (the pid namespace; the cgroup namespace it makes once in
// its cgroups), joining the builder's first thing; in a session of its own
// (as the Go init makes one); as `ocirun pid1`.
func pid1Kind(cfg *configs.Config, made builderNamespaces) initKind {
	var flags uintptr
	for _, ns := range cfg.Namespaces {
		if ns.Type != "cgroup" && made.file(ns.Type) == nil {
			flags |= uintptr(cloneFlags[ns.Type])
		}
	}
	return initKind{
		argv: []string{"ocirun", "pid1"},
		env: func(fds []int) []string {
			// After the socket and the exec socket come the builder's
			// files that exist, in order; the last is the sealed binary
			// pid 1 was exec'd from, which it closes.
			spec := fmt.Sprintf("_OCIRUN_PID1=%d,%d,%d", fds[0], fds[1], fds[len(fds)-1])
			next := 2
			for _, f := range made.files {
				fd := -1
				if f != nil {
					fd, next = fds[next], next+1
				}
				spec += fmt.Sprintf(",%d", fd)
			}
			return []string{spec}
		},
		sys: syscall.SysProcAttr{Cloneflags: flags, Setsid: true},
		dir: "/",
	}
}

// whileBuilt is the parent's share while its thread builds the rootfs: once
// the cgroup is made, the state saved (a failed create is then cleaned up by
// pid), the limits, the OOM score, the seccomp filter compiled.
func (c *Container) whileBuilt(pid int, cfg *configs.Config, cgroup func() pid1Cgroup) ([]byte, uint32, error) {
	var bpf []byte
	var sflags uint32
	if cfg.Seccomp != nil {
		var err error
		if bpf, sflags, err = seccomp.Export(cfg.Seccomp); err != nil {
			return nil, 0, err
		}
	}
	r := cgroup()
	if r.err != nil {
		return nil, 0, r.err
	}
	if err := saveState(c.dir, c.state); err != nil {
		return nil, 0, err
	}
	if err := r.cg.SetLate(cfg.Resources); err != nil {
		return nil, 0, err
	}
	if err := setupFromHost(pid, cfg); err != nil {
		return nil, 0, err
	}
	return bpf, sflags, nil
}

// buildFromParent builds pid 1's rootfs from a thread of ours and returns
// the process's environment (HOME from the container's /etc/passwd).
// It runs on the builder's thread (startBuilder), in the namespaces it made,
// as soon as they are made: what precedes the first proc mount (propagation,
// the rootfs bind, the mounts before it) overlaps pid 1's clone, and it
// waits for pid 1 (which joins those namespaces and takes the thread's root
// before it reads anything) where it first needs it.
func buildFromParent(cfg *configs.Config, start <-chan builderStart, cgroupMounts func() ([]*mountinfo.Info, error)) ([]string, error) {
	unix.Umask(0) // device nodes and mount targets get exactly the modes asked for
	fp := &fromParent{hierarchies: hierarchiesFrom(cgroupMounts)}
	var p1 builderStart
	pid1 := func() error {
		if p1.sock != nil {
			return nil
		}
		if hasCgroupMount(cfg) {
			fp.hierarchies() // while pid 1 is cloned; an error is the cgroup mount's
		}
		s, ok := <-start
		if !ok {
			return errCreateEnded
		}
		p1, fp.pid = s, s.pid
		return nil
	}
	// pid 1 joins its cgroups (~0.4 ms on a v1 host) while the builder
	// goes on: asked right after its last proc mount if the cgroup is made
	// by then, its answer read when needed (a cgroup mount, pivot_root) or
	// before pid 1's next answer (they come in order); else asked when needed.
	asked, joined := false, false
	var joinErr error
	askJoin := func() {
		if !asked {
			asked = true
			if joinErr = pid1(); joinErr == nil {
				joinErr = askPid1ToJoin(p1.sock, cfg, p1.cgroup())
			}
		}
	}
	procMounts := 0
	for _, m := range cfg.Mounts {
		if m.Type == "proc" {
			procMounts++
		}
	}
	join := func() error {
		askJoin()
		if joinErr != nil || joined {
			return joinErr
		}
		joinErr = asConstructor(expectPid1(p1.sock, msgPid1Joined, nil))
		joined = joinErr == nil
		return joinErr
	}
	fp.mountProc = func(m *configs.Mount, target *os.File) error {
		if err := pid1(); err != nil {
			return err
		}
		if asked {
			if err := join(); err != nil {
				return err
			}
		}
		if err := writeMsgFd(p1.sock, msgPid1Mount, encodeMount(m), int(target.Fd())); err != nil {
			return orPid1Failure(p1.sock, fmt.Errorf("ask init to mount: %w", err))
		}
		var errno [4]byte
		if err := asConstructor(expectPid1(p1.sock, msgPid1Mounted, errno[:])); err != nil {
			return err
		}
		if e := binary.LittleEndian.Uint32(errno[:]); e != 0 {
			return syscall.Errno(e)
		}
		if procMounts--; procMounts == 0 && p1.cgroupMade() {
			askJoin()
		}
		return nil
	}
	inCgroupNS := false
	fp.enterCgroup = func() error {
		if err := join(); err != nil || inCgroupNS || !cfg.Has("cgroup") {
			return err
		}
		// pid 1 made its cgroup namespace before it said it joined.
		if err := joinNamespace(p1.pid, "cgroup"); err != nil {
			return err
		}
		inCgroupNS = true
		return nil
	}
	if err := prepareRootfs(cfg, fp); err != nil {
		return nil, err
	}
	// pid 1 joins its cgroups through host paths: before they are gone.
	if err := join(); err != nil {
		return nil, err
	}
	if err := enterRootfs(cfg, false); err != nil {
		return nil, err
	}
	if err := setupUTS(cfg); err != nil {
		return nil, err
	}
	if err := writeSysctls(cfg.Sysctl); err != nil {
		return nil, err
	}
	if err := finalizeRootfs(cfg); err != nil {
		return nil, err
	}
	return withHome(cfg.Process.Env, cfg.Process.UID), nil
}

// askPid1ToJoin sends pid 1 its cgroups (the tasks files, whether to make a
// cgroup namespace, the memory cgroup's tasks file attached when it joins
// that at the end); it answers msgPid1Joined once it is in them.
func askPid1ToJoin(sock *os.File, cfg *configs.Config, r pid1Cgroup) error {
	if r.err != nil {
		return r.err
	}
	var cgroupns uint32
	if cfg.Has("cgroup") {
		cgroupns = 1
	}
	payload := appendStrings(binary.LittleEndian.AppendUint32(nil, cgroupns), r.tasks)
	var err error
	if r.memcg != nil {
		err = writeMsgFd(sock, msgPid1Join, payload, int(r.memcg.Fd()))
	} else {
		err = nsenter.WriteMsg(sock, msgPid1Join, payload)
	}
	if err != nil {
		return orPid1Failure(sock, fmt.Errorf("send init its cgroups: %w", err))
	}
	return nil
}

// orPid1Failure is pid 1's own error when it sent one before it exited
// (a write to it then fails with EPIPE), else err.
func orPid1Failure(sock *os.File, err error) error {
	if perr := pid1Failure(sock); perr != nil {
		return perr
	}
	return err
}

// builderThread is the thread that builds the container, started as soon
// as create knows the parent builds it: it leaves the process's shared fs
// state and makes the container's network, ipc, uts and mount namespaces
// (the network namespace alone was 0.6 ms of pid 1's clone here) while
// create goes on, then waits for pid 1, which joins them.
type builderThread struct {
	ready func() (builderNamespaces, error) // once prepared: what pid 1 joins
	// cgroupMounts are the host's cgroup mounts, read once for create's
	// cgroup layout and the builder's cgroup mount.
	cgroupMounts func() ([]*mountinfo.Info, error)
	idOwned      chan struct{} // closed once the state directory is ours
	aborted      chan struct{} // closed by finish
	start        chan builderStart
	done         chan built
}

// proceed lets the builder at the rootfs: create owns the container's id
// (a create that fails on an id in use leaves the rootfs untouched).
func (b *builderThread) proceed() { close(b.idOwned) }

type builderStart struct {
	pid        int
	sock       *os.File
	cgroup     func() pid1Cgroup
	cgroupMade func() bool // whether cgroup would return at once
}

type built struct {
	env []string
	err error
}

// hasCgroupMount tells whether the config mounts a cgroup hierarchy (whose
// host hierarchies the builder then reads while it waits for pid 1).
func hasCgroupMount(cfg *configs.Config) bool {
	for _, m := range cfg.Mounts {
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			return true
		}
	}
	return false
}

// errCreateEnded is the builder's when create failed before pid 1 existed.
var errCreateEnded = errors.New("create ended before init started")

// builderNSKinds are the namespaces the builder makes, in the order pid 1
// joins them (pid1.c): the network namespace first, the mount namespace
// last, then the builder's root.
var builderNSKinds = [...]string{"network", "ipc", "uts", "mount"}

// builderNamespaces are the files of the namespaces the builder made (nil
// for a kind the config does not have) and of its root, for pid 1.
type builderNamespaces struct {
	files [len(builderNSKinds) + 1]*os.File
}

// file is the namespace of this kind the builder made, or nil.
func (n builderNamespaces) file(kind string) *os.File {
	for i, k := range builderNSKinds {
		if k == kind {
			return n.files[i]
		}
	}
	return nil
}

func (n builderNamespaces) close() {
	for _, f := range n.files {
		if f != nil {
			f.Close()
		}
	}
}

func startBuilder(cfg *configs.Config) *builderThread {
	prepared := make(chan error, 1)
	var made builderNamespaces
	b := &builderThread{idOwned: make(chan struct{}), aborted: make(chan struct{}),
		start: make(chan builderStart, 1), done: make(chan built, 1), cgroupMounts: sync.OnceValues(cgroups.Mounts)}
	b.ready = sync.OnceValues(func() (builderNamespaces, error) {
		err := <-prepared // first: made is written before it is sent
		return made, err
	})
	goLockedOffMainThread(func() {
		var err error
		made, err = prepareBuilder(cfg)
		prepared <- err
		if err != nil {
			return // create fails with err before pid 1 exists
		}
		select {
		case <-b.idOwned:
		case <-b.aborted:
			return
		}
		env, err := buildFromParent(cfg, b.start, b.cgroupMounts)
		b.done <- built{env, err} // buffered: unread when create failed first
	})
	return b
}

// goLockedOffMainThread runs f on a new goroutine locked to a thread that is
// not the process's main thread, and ends that thread with f: the builder
// leaves its thread in the container's namespaces and root. Go ends such a
// thread, except the main one, which it parks for good, and /proc/self
// (mountinfo, root, cwd) would then describe the container's. A goroutine
// that finds itself there holds the main thread while a second one locks a
// thread of its own, then lets the main thread go.
func goLockedOffMainThread(f func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			f()
			return // still locked: the thread ends
		}
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread() // not the main thread: this goroutine's sibling holds it
			close(locked)
			f()
		}()
		<-locked
		runtime.UnlockOSThread()
	}()
}

// prepareBuilder unshares this thread's fs state (its own root, cwd and
// umask: unshare and setns of a mount namespace need them) and makes the
// config's network, ipc, uts and mount namespaces, returning them and its
// root: setns puts pid 1 at its mount namespace's root, which is not ours
// under a chroot; pid 1 then takes the builder's, so that pivot_root moves
// both.
func prepareBuilder(cfg *configs.Config) (builderNamespaces, error) {
	var made builderNamespaces
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return made, fmt.Errorf("unshare the builder's fs state: %w", err)
	}
	var flags int
	for _, k := range builderNSKinds {
		if cfg.Has(k) {
			flags |= int(cloneFlags[k])
		}
	}
	if err := unix.Unshare(flags); err != nil {
		return made, fmt.Errorf("make the container's namespaces: %w", err)
	}
	for i, k := range builderNSKinds {
		if !cfg.Has(k) {
			continue
		}
		f, err := os.Open("/proc/thread-self/ns/" + nsFiles[k])
		if err != nil {
			made.close()
			return builderNamespaces{}, fmt.Errorf("open the new %s namespace: %w", k, err)
		}
		made.files[i] = f
	}
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		made.close()
		return builderNamespaces{}, fmt.Errorf("open the builder's root: %w", err)
	}
	made.files[len(builderNSKinds)] = root
	return made, nil
}

// finish, once create is over, ends the thread if it never got pid 1 and
// closes the namespaces' files (pid 1 is in them, if it got that far).
func (b *builderThread) finish() {
	close(b.aborted)
	close(b.start)
	if made, err := b.ready(); err == nil {
		made.close()
	}
}

// joinNamespace moves this thread into one of pid's namespaces.
func joinNamespace(pid int, kind string) error {
	path := fmt.Sprintf("/proc/%d/ns/%s", pid, nsFiles[kind])
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, int(cloneFlags[kind])); err != nil {
		return fmt.Errorf("join the init's %s namespace: %w", kind, err)
	}
	return nil
}

// expectPid1 reads pid 1's next message, which must be of type want; its
// payload goes into into (an exact size, or nil for none).
func expectPid1(sock *os.File, want uint32, into []byte) error {
	t, payload, err := nsenter.ReadMsg(sock)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return errors.New("init exited before the container was ready")
	case err != nil:
		return fmt.Errorf("read from init: %w", err)
	case t == nsenter.MsgError:
		return pid1Said(payload)
	case t != want || len(payload) != len(into):
		return fmt.Errorf("unexpected message %d from init", t)
	}
	copy(into, payload)
	return nil
}

// pid1Said is a failure in pid 1's words. Those of its process plan read as
// the Go init's (bare); those of its start (network namespace, cgroups) as
// the C constructor's before a Go init ("init: ...").
type pid1Said string

func (e pid1Said) Error() string { return string(e) }

func asConstructor(err error) error {
	if e, ok := err.(pid1Said); ok {
		return fmt.Errorf("init: %s", string(e))
	}
	return err
}

// pid1Failure returns the error pid 1 sent, if it sent one before it exited
// (waiting a little for it: this runs only once something failed).
func pid1Failure(sock *os.File) error {
	fds := []unix.PollFd{{Fd: int32(sock.Fd()), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 100); err != nil || n == 0 {
		return nil
	}
	if t, payload, err := nsenter.ReadMsg(sock); err == nil && t == nsenter.MsgError {
		return asConstructor(pid1Said(payload))
	}
	return nil
}

func encodeMount(m *configs.Mount) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(m.Flags&^unix.MS_REC))
	b = appendField(b, []byte(m.Source))
	b = appendField(b, []byte(m.Type))
	return appendField(b, []byte(m.Data))
}
