package libcontainer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/cgroups"
	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/nsenter"
)

// CreateOpts is what `create` and `run` hand the engine besides the config.
type CreateOpts struct {
	Root   string // state root (--root)
	ID     string
	Bundle string // absolute bundle path
	Config *configs.Config

	Stdin, Stdout, Stderr *os.File // the init's stdio when there is no terminal
	PreserveFds           int      // fds 3..3+N-1 passed on to the container
	ConsoleSocket         *os.File // a connected unix socket that receives the pty master
	NoPivot               bool
	NoNewKeyring          bool
	GoInit                bool // always a Go init, never the parent's build (parent_build.go)
}

// Messages between the parent and the Go init, after the constructor's.
const (
	msgConfig    = 10 // parent → init: initConfig JSON
	msgHooks     = 11 // init → parent: run prestart and createRuntime hooks now
	msgHooksDone = 12 // parent → init
	msgReady     = 13 // init → parent: set up and waiting for start
	msgHookError = 14 // init → parent: a createContainer hook failed (poststop hooks run)
	msgSeccompFd = 15 // init → parent: the seccomp notify fd, with SCM_RIGHTS, for the listener
)

// initConfig is everything the Go init needs, sent once over the socket.
type initConfig struct {
	ID           string          `json:"id"`
	Bundle       string          `json:"bundle"`
	Pid          int             `json:"pid"` // the init's host pid, for hook state
	Config       *configs.Config `json:"config"`
	PreserveFds  int             `json:"preserve_fds"`
	ConsoleFd    int             `json:"console_fd"` // -1 without a terminal
	ExecListenFd int             `json:"exec_listen_fd"`
	NoPivot      bool            `json:"no_pivot"`
	NoNewKeyring bool            `json:"no_new_keyring"`
	Exec         bool            `json:"exec,omitempty"` // join a running container instead of making one
	// MemcgFd is the memory cgroup's tasks file, which the init joins only
	// when it is set up (lateMemcg); 0 when it joined with the others.
	MemcgFd int `json:"memcg_fd,omitempty"`
	// ExeFd is the sealed handle on our binary the init was started from;
	// it re-executes it as the waiter (waiter.go).
	ExeFd int `json:"exe_fd,omitempty"`
}

// Create makes a container and leaves its init waiting for Start. On any
// failure it removes everything it made and returns the first error.
func Create(opts CreateOpts) (*Container, error) {
	if err := ValidateID(opts.ID); err != nil {
		return nil, err
	}
	// Most containers the parent builds (parent_build.go): its builder
	// thread starts now, making the namespaces while create goes on, and
	// touches the rootfs once the container's id is ours.
	var builder *builderThread
	if parentBuilds(opts.Config, &opts) {
		builder = startBuilder(opts.Config)
		defer builder.finish()
	}
	c, err := newStateDir(opts.Root, opts.ID)
	if err != nil {
		return nil, err
	}
	if builder != nil {
		builder.proceed()
	}
	c.state = &State{
		ID:       opts.ID,
		Bundle:   opts.Bundle,
		Created:  time.Now().UTC(),
		Owner:    "",
		Creating: true,
	}
	if opts.Config.Process != nil {
		dropUngrantable(opts.Config.Process.Capabilities)
	}
	if !opts.Config.Has("mount") {
		if c.state.RootfsMountID, err = mountID(opts.Config.Rootfs); err != nil {
			c.abortCreate()
			return nil, err
		}
	}
	if builder != nil {
		err = c.createBuiltByParent(&opts, builder)
	} else {
		err = c.createInit(&opts)
	}
	if err != nil {
		c.abortCreate()
		return nil, err
	}
	return c, nil
}

// newStateDir makes <root>/<id> and locks it; an existing id is refused.
// Until it holds the lock it holds the root's shared: a directory without
// state whose lock nobody holds is a dead create's to `delete`
// (RemoveStale), and this one is not yet.
func newStateDir(root, id string) (*Container, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", root, err)
	}
	rootLock, err := flockDir(root, unix.LOCK_SH)
	if err != nil {
		return nil, fmt.Errorf("create state root %s: %w", root, err)
	}
	defer rootLock.Close()
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if os.IsExist(err) {
			return nil, fmt.Errorf("container with id exists: %s", id)
		}
		return nil, fmt.Errorf("create state directory %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	return &Container{id: id, dir: dir, lock: lock}, nil
}

// abortCreate undoes a failed create: the init is killed, the cgroup and
// the state directory removed.
func (c *Container) abortCreate() {
	c.kill()
	if err := c.removeCgroup(); err != nil {
		slog.Warn("remove the cgroup of a failed create", "error", err)
	}
	if err := c.releaseSharedRootfs(); err != nil {
		slog.Warn("release the rootfs of a failed create", "error", err)
	}
	if err := removeStateDir(c.dir); err != nil {
		slog.Warn("remove the state of a failed create", "error", err)
	}
	c.Close()
}

// initFiles are what every init starts with besides stdio: the socketpair
// (our end, its end) and the exec socket's listener.
type initFiles struct {
	parent, child, listener *os.File
}

func (c *Container) openInitFiles() (*initFiles, error) {
	f := &initFiles{}
	var err error
	if f.parent, f.child, err = socketPair(); err != nil {
		return nil, err
	}
	if f.listener, err = listenExecSocket(c.lock, c.dir); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// passed lists the files the init gets after stdio, in this order: its
// socket, the listener, the extra ones (nil skipped).
func (f *initFiles) passed(extra ...*os.File) []*os.File {
	out := []*os.File{f.child, f.listener}
	for _, e := range extra {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// started closes what only the init needs, once it has its copies.
func (f *initFiles) started() {
	f.child.Close()
	f.listener.Close()
	f.child, f.listener = nil, nil
}

func (f *initFiles) close() {
	for _, file := range []*os.File{f.parent, f.child, f.listener} {
		if file != nil {
			file.Close()
		}
	}
}

// createInit makes the cgroup, starts the Go init, answers its requests in
// order and saves the state.
func (c *Container) createInit(opts *CreateOpts) error {
	cfg := opts.Config
	if err := c.state.SetConfig(cfg); err != nil {
		return err
	}
	bs, err := bootstrapFor(cfg)
	if err != nil {
		return err
	}
	cg, err := c.makeCgroup(cfg)
	if err != nil {
		return err
	}
	f, err := c.openInitFiles()
	if err != nil {
		return err
	}
	defer f.close()
	memcg, tasks, err := openLateMemcg(cg, cfg, cg.V1Tasks())
	if err != nil {
		return err
	}
	if memcg != nil {
		defer memcg.Close()
	}
	bs.CgroupTasks = tasks
	// The init is cloned straight into its cgroup2 cgroup (clone3
	// CLONE_INTO_CGROUP); its first stage joins the v1 hierarchies itself.
	cgroupDir, _ := cg.OpenV2Dir()
	if cgroupDir != nil {
		defer cgroupDir.Close()
	}
	parentSock := f.parent
	stage1, fds, err := startInit(opts.Root, cgroupDir, opts.Stdin, opts.Stdout, opts.Stderr, opts.PreserveFds,
		goInit(), f.passed(opts.ConsoleSocket, memcg)...)
	f.started()
	if err != nil {
		return err
	}
	ic := initConfig{ID: c.id, Bundle: opts.Bundle, Config: cfg, PreserveFds: opts.PreserveFds,
		ExecListenFd: fds[1], ConsoleFd: -1, NoPivot: opts.NoPivot, NoNewKeyring: opts.NoNewKeyring}
	if opts.ConsoleSocket != nil {
		ic.ConsoleFd = fds[2]
	}
	ic.ExeFd = fds[len(fds)-1]
	if memcg != nil {
		ic.MemcgFd = fds[len(fds)-2]
	}
	pid, err := bootstrap(stage1, parentSock, bs, func(stage1 int) error {
		return setupFromHost(stage1, cfg)
	})
	if err != nil {
		return err
	}
	if err := c.recordInit(pid); err != nil {
		return err
	}
	if err := saveState(c.dir, c.state); err != nil {
		return err
	}
	// The limits other than memory's are written now, while the init's Go
	// runtime starts: it does nothing of the container's before it has read
	// its config, sent below, so every limit is in place by then.
	if err := cg.SetLate(cfg.Resources); err != nil {
		return err
	}
	ic.Pid = pid
	return c.configureInit(parentSock, &ic)
}

// openLateMemcg keeps the init out of its v1 memory cgroup until its set-up
// is done: the pages of the Go init (the runtime, the decoded config) are
// then charged to the caller, not to the container, whose limit only has to
// hold the container's process (a 1 MiB container runs /bin/true). The init
// joins through the returned tasks file (opened here, with the host's
// credentials the kernel checks), moving only itself, which takes no global
// lock. It joins early, with the others, when the container has a cgroup
// namespace (whose root is the init's cgroup when the namespace is made) or
// mounts cgroupfs (the mount shows the init's own cgroup at that time), and
// when it has createContainer hooks: they run in the container during set-up,
// and what they leave running must be under the container's memory limit.
// It returns the tasks files the init joins at once: all without the memory
// cgroup's when that is joined late.
func openLateMemcg(cg *cgroups.Manager, cfg *configs.Config, all []string) (*os.File, []string, error) {
	tasks := cg.V1MemoryTasks()
	if tasks == "" || cfg.Has("cgroup") || mountsCgroupfs(cfg) || len(cfg.Hooks.CreateContainer) > 0 {
		return nil, all, nil
	}
	f, err := cg.OpenFile(tasks)
	if err != nil {
		return nil, nil, fmt.Errorf("open memory cgroup: %w", err)
	}
	var early []string
	for _, t := range all {
		if t != tasks {
			early = append(early, t)
		}
	}
	return f, early, nil
}

func mountsCgroupfs(cfg *configs.Config) bool {
	for _, m := range cfg.Mounts {
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			return true
		}
	}
	return false
}

// initKind says which init startInit starts and how.
type initKind struct {
	argv []string
	// env is the init's environment, given where its files landed.
	env func(fds []int) []string
	// sys adds to the clone: namespaces, a new session (the Go init makes its own).
	sys syscall.SysProcAttr
	dir string // the init's cwd; "" keeps ours
}

// goInit is `ocirun init`: the C constructor, then the Go init.
func goInit() initKind {
	return initKind{
		argv: []string{"ocirun", "init"},
		env: func(fds []int) []string {
			// The init is the only Go program that must start fast and alone: keep
			// the runtime from reading cgroup files for GOMAXPROCS, and from
			// starting threads for a second P (its work is one goroutine; each
			// thread also costs a signal round in the C library's setuid and
			// setgroups where the Go init switches every thread).
			return []string{nsenter.EnvInitPipe + "=" + strconv.Itoa(fds[0]),
				"GODEBUG=containermaxprocs=0,updatemaxprocs=0", "GOMAXPROCS=1"}
		},
	}
}

// checkInherited refuses to pass on an fd that our caller did not give us:
// a hole in the caller's fds is filled by the next file ocirun opens (its
// state directory, the cgroup root; CVE-2024-21626 was such a leak of a host
// directory into a container). Every file ocirun opens is close-on-exec, and
// one inherited across exec cannot be.
func checkInherited(fd int) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		return fmt.Errorf("--preserve-fds: fd %d is not open", fd)
	}
	if flags&unix.FD_CLOEXEC != 0 {
		return fmt.Errorf("--preserve-fds: fd %d was not passed to ocirun (it holds one of ocirun's own files)", fd)
	}
	return nil
}

// startInit starts an init with stdio, the caller's fds 3..3+preserve-1
// at the same numbers, and files after them; it returns the child's pid and
// where files landed, and last where the sealed binary did.
// The init runs from a sealed handle on our binary (see exeseal.go). It is
// started with syscall.ForkExec, not os/exec: os.StartProcess forks a probe
// child to test pidfd support first, a fork we do not need (no pidfd kept).
func startInit(root string, cgroupDir, stdin, stdout, stderr *os.File, preserve int, kind initKind, files ...*os.File) (int, []int, error) {
	exe, err := sealedExe(root)
	if err != nil {
		return 0, nil, err
	}
	// Closed beside what follows: the overlay's dissolution waits for RCU.
	defer func() { go exe.Close() }()
	files = append(files, exe.File)
	sys := kind.sys
	attr := &syscall.ProcAttr{Sys: &sys, Dir: kind.dir}
	for _, f := range []*os.File{stdin, stdout, stderr} {
		if f == nil {
			// As os/exec does for a nil stdio: the null device, not a closed fd.
			null, err := os.OpenFile(os.DevNull, os.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				return 0, nil, fmt.Errorf("start init: %w", err)
			}
			defer null.Close()
			f = null
		}
		attr.Files = append(attr.Files, f.Fd())
	}
	for fd := 3; fd < 3+preserve; fd++ {
		if err := checkInherited(fd); err != nil {
			return 0, nil, err
		}
		attr.Files = append(attr.Files, uintptr(fd))
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = len(attr.Files)
		attr.Files = append(attr.Files, f.Fd())
	}
	attr.Env = kind.env(fds)
	if cgroupDir != nil {
		sys.UseCgroupFD, sys.CgroupFD = true, int(cgroupDir.Fd())
	}
	// Whatever our caller left open without close-on-exec (a shell's
	// `exec 7</`, a leaky supervisor) must not reach the init: only the
	// files above are passed, at the numbers above (ForkExec clears the flag
	// on those it places).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 0, nil, fmt.Errorf("start init: mark inherited fds close-on-exec: %w", err)
	}
	pid, err := syscall.ForkExec(fmt.Sprintf("/proc/self/fd/%d", fds[len(fds)-1]), kind.argv, attr)
	// The files' fds were only borrowed (Fd): keep the Files alive until the child has them.
	runtime.KeepAlive(files)
	runtime.KeepAlive(stdin)
	runtime.KeepAlive(stdout)
	runtime.KeepAlive(stderr)
	if err != nil {
		return 0, nil, fmt.Errorf("start init: %w", err)
	}
	return pid, fds, nil
}

// bootstrap drives the C constructor: namespaces, the host-side setup of
// the first stage (hostSetup), and the pid of the process that will run Go.
func bootstrap(stage1 int, sock *os.File, bs *nsenter.Bootstrap, hostSetup func(stage1 int) error) (int, error) {
	reap := func() {
		unix.Kill(stage1, unix.SIGKILL)
		waitPid(stage1)
	}
	if _, err := sock.Write(bs.Encode()); err != nil {
		reap()
		return 0, fmt.Errorf("send bootstrap to init: %w", err)
	}
	for {
		t, payload, err := nsenter.ReadMsg(sock)
		if err != nil {
			reap()
			return 0, fmt.Errorf("init exited during namespace setup: %w", err)
		}
		switch t {
		case nsenter.MsgSyncReq:
			if err := hostSetup(stage1); err != nil {
				reap()
				return 0, err
			}
			if err := nsenter.WriteMsg(sock, nsenter.MsgSyncAck, nil); err != nil {
				reap()
				return 0, fmt.Errorf("sync with init: %w", err)
			}
		case nsenter.MsgError:
			reap()
			return 0, fmt.Errorf("init: %s", payload)
		case nsenter.MsgPid:
			if len(payload) != 4 {
				reap()
				return 0, errors.New("init sent a malformed pid")
			}
			pid := int(binary.LittleEndian.Uint32(payload))
			if pid != stage1 {
				// The constructor forked into a new pid namespace and its first stage exited.
				if ws, err := waitPid(stage1); err != nil {
					return 0, fmt.Errorf("init's first stage: %w", err)
				} else if !ws.Exited() || ws.ExitStatus() != 0 {
					return 0, fmt.Errorf("init's first stage: exit status %d (signal %d)", ws.ExitStatus(), ws.Signal())
				}
			}
			// Otherwise the init is our child: it is reparented when we exit, never reaped here.
			return pid, nil
		default:
			reap()
			return 0, fmt.Errorf("unexpected message %d from init", t)
		}
	}
}

// waitPid reaps one child.
func waitPid(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws, err
		}
	}
}

// setupFromHost does, for the first stage of the init, what needs the host's
// view: the user namespace's id maps and the OOM score.
func setupFromHost(pid int, cfg *configs.Config) error {
	if cfg.Has("user") && cfg.NamespacePath("user") == "" {
		if err := writeIDMap(pid, "uid_map", cfg.UIDMappings); err != nil {
			return err
		}
		if err := writeIDMap(pid, "gid_map", cfg.GIDMappings); err != nil {
			return err
		}
	}
	if adj := cfg.Process.OOMScoreAdj; adj != nil {
		path := fmt.Sprintf("/proc/%d/oom_score_adj", pid)
		if err := os.WriteFile(path, []byte(strconv.Itoa(*adj)), 0); err != nil {
			return fmt.Errorf("set process.oomScoreAdj %d: %w", *adj, err)
		}
	}
	return nil
}

// writeIDMap writes a new user namespace's uid_map or gid_map in one write, as the kernel requires.
func writeIDMap(pid int, file string, maps []configs.IDMap) error {
	var b strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	if err := os.WriteFile(path, []byte(b.String()), 0); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// recordInit puts the init's pid and start time in the state (killed if it
// cannot be identified: no later command could tell it from a reused pid).
func (c *Container) recordInit(pid int) error {
	st, err := readProcStat(pid)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return fmt.Errorf("read init's start time: %w", err)
	}
	c.state.InitPid, c.state.InitStartTime = pid, st.StartTime
	return nil
}

// configureInit sends the config to the Go init and serves it until it is ready.
func (c *Container) configureInit(sock *os.File, ic *initConfig) error {
	data, err := json.Marshal(ic)
	if err != nil {
		return fmt.Errorf("encode init config: %w", err)
	}
	if err := nsenter.WriteMsg(sock, msgConfig, data); err != nil {
		return fmt.Errorf("send config to init: %w", err)
	}
	hooks := &c.state.Hooks
	for {
		t, payload, fd, err := readMsgFd(sock)
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return errors.New("init exited before the container was ready")
			}
			return fmt.Errorf("read from init: %w", err)
		}
		switch t {
		case msgHooks:
			// runtime-spec: the environment exists by now (lifecycle step 2), so hooks see "created".
			state := c.ociState(Created)
			err := runHooks("prestart", hooks.Prestart, state)
			if err == nil {
				err = runHooks("createRuntime", hooks.CreateRuntime, state)
			}
			if err != nil {
				runPoststopHooks(hooks.Poststop, c.ociState(Stopped))
				return err
			}
			if err := nsenter.WriteMsg(sock, msgHooksDone, nil); err != nil {
				return fmt.Errorf("sync with init: %w", err)
			}
		case msgHookError:
			runPoststopHooks(hooks.Poststop, c.ociState(Stopped))
			return fmt.Errorf("%s", payload)
		case nsenter.MsgError:
			return fmt.Errorf("%s", payload)
		case msgSeccompFd:
			err := sendToListener(ic.Config.Seccomp, fd, c.ociState(Creating), ic.Pid)
			unix.Close(fd)
			if err != nil {
				return err
			}
		case msgReady:
			c.state.Creating = false
			return saveState(c.dir, c.state)
		default:
			return fmt.Errorf("unexpected message %d from init", t)
		}
	}
}

func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "init-parent"), os.NewFile(uintptr(fds[1]), "init-child"), nil
}
