package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/cgroups"
	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/criu"
)

// RestoreOpts is what `restore` hands the engine.
type RestoreOpts struct {
	Root   string // state root (--root)
	ID     string
	Bundle string
	Config *configs.Config
	Criu   *CriuOpts
	// The restored process's stdio where it was a pipe or a host file at dump.
	Stdin, Stdout, Stderr *os.File
	// ConsoleSocket receives the new pty master of a container with a terminal.
	ConsoleSocket *os.File
}

// criuRootDir is where the rootfs is bound in the state directory for CRIU
// to restore the mount namespace on; it is gone once the restore is over.
const criuRootDir = "criu-root"

// Restore brings a checkpointed container back as a running container with
// opts.ID (the same id or a new one). A stopped container of that id, as a
// checkpoint leaves it, is removed first.
func Restore(opts RestoreOpts) (*Container, error) {
	if err := ValidateID(opts.ID); err != nil {
		return nil, err
	}
	if opts.Config.Process != nil && opts.Config.Process.Terminal && opts.ConsoleSocket == nil {
		return nil, errors.New("restore of a container with a terminal needs --console-socket: the new pty master goes there")
	}
	info, err := readCheckpointInfo(opts.Criu.ImagesDir)
	if err != nil {
		return nil, err
	}
	if old, err := Load(opts.Root, opts.ID); err == nil {
		if st := old.Status(); st != Stopped {
			old.Close()
			return nil, fmt.Errorf("container with id exists: %s (%s)", opts.ID, st)
		}
		if err := old.Destroy(false); err != nil {
			old.Close()
			return nil, err
		}
	}
	c, err := newStateDir(opts.Root, opts.ID)
	if err != nil {
		return nil, err
	}
	c.state = &State{ID: opts.ID, Bundle: opts.Bundle, Created: time.Now().UTC(), Creating: true}
	if err := c.state.SetConfig(opts.Config); err != nil {
		c.abortCreate()
		return nil, err
	}
	cg, err := c.setupCgroup(opts.Config)
	if err != nil {
		c.abortCreate()
		return nil, err
	}
	// Saved before CRIU runs: a restore killed half-way leaves a container
	// that `delete --force` finds, with the cgroup that holds whatever CRIU
	// had restored, and the root bind to detach.
	if err := saveState(c.dir, c.state); err != nil {
		c.abortCreate()
		return nil, err
	}
	if err := c.restoreProcesses(&opts, cg, info); err != nil {
		c.abortCreate()
		return nil, err
	}
	return c, nil
}

// restoreProcesses runs CRIU's restore into the container's cgroup, with its
// root bound from the rootfs, and records the restored init.
func (c *Container) restoreProcesses(opts *RestoreOpts, cg *cgroups.Manager, info *checkpointInfo) error {
	cfg := opts.Config
	images, work, err := openCriuDirs(opts.Criu, false)
	if err != nil {
		return err
	}
	defer images.Close()
	defer work.Close()
	root, err := bindCriuRoot(c.dir, cfg.Rootfs)
	if err != nil {
		return err
	}
	defer unbindCriuRoot(c.dir)

	s := &criu.Swrk{Path: opts.Criu.CriuPath, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr}
	ro := baseCriuOpts(opts.Criu, images, work, "restore.log")
	ro.Root = new(root)
	ro.RstSibling = new(true) // the restored init is our child, as a created one is
	ro.NetworkLock = networkLockOpt(info.NetworkLock)
	for _, m := range cfg.Mounts {
		if m.IsBind() {
			ro.External = append(ro.External, fmt.Sprintf("mnt[%s]:%s", m.Destination, m.Source))
		}
	}
	if cfg.Has("user") {
		for _, d := range cfg.Devices {
			ro.External = append(ro.External, fmt.Sprintf("mnt[%s]:%s", d.Path, d.Path))
		}
	}
	for fd, key := range info.Stdio {
		if key != "" {
			ro.InheritFd = append(ro.InheritFd, &criu.InheritFd{Key: key, Fd: int32(fd)})
		}
	}
	for _, t := range externalNamespaces {
		p := cfg.NamespacePath(t.spec)
		if p == "" {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("namespace %s %s: %w", t.spec, p, err)
		}
		defer f.Close()
		ro.InheritFd = append(ro.InheritFd, &criu.InheritFd{Key: t.key, Fd: s.AddFile(f)})
	}
	for spec, name := range map[string]string{"ipc": "ipc", "uts": "uts"} {
		if p := cfg.NamespacePath(spec); p != "" {
			ro.JoinNs = append(ro.JoinNs, &criu.JoinNamespace{Ns: name, NsFile: p})
		}
	}
	criuPid, err := s.Start()
	if err != nil {
		return err
	}
	defer s.Close()
	// CRIU puts the restored tree into the cgroup its images name, with the
	// root of each hierarchy remapped: to the container's cgroup, which is
	// how a restore under a new id lands in that id's cgroup. Only with
	// --manage-cgroups-mode ignore does CRIU leave cgroups alone: then the
	// tree inherits CRIU's, and CRIU is moved into the container's first, as
	// runc always does (a pid written to cgroup.procs waits for an RCU grace
	// period, about 15 ms here, which the other modes do not need to pay).
	if opts.Criu.ManageCgroupsMode == "ignore" {
		if err := cg.Apply(criuPid); err != nil {
			return fmt.Errorf("move criu into the container's cgroup: %w", err)
		}
	}
	for _, ctrl := range cg.Hierarchies() {
		ro.CgRoot = append(ro.CgRoot, &criu.CgroupRoot{Ctrl: new(ctrl), Path: cg.CgroupPath()})
	}
	var restored int32
	resp, err := s.Call(criu.ReqRestore, ro, nil, func(n *criu.Notification) error {
		switch n.Script {
		case "setup-namespaces":
			// The namespaces exist, nothing runs yet: the runtime's hooks, as at create.
			st := c.ociState(Creating)
			st.Pid = int(n.Pid)
			if err := runHooks("prestart", cfg.Hooks.Prestart, st); err != nil {
				return err
			}
			return runHooks("createRuntime", cfg.Hooks.CreateRuntime, st)
		case "orphan-pts-master":
			// The terminal's slave came back with a new master: it goes where create's went.
			if len(n.Files) != 1 || opts.ConsoleSocket == nil {
				return errors.New("a pty master arrived, but there is no console socket to send it to")
			}
			return sendConsoleMaster(int(opts.ConsoleSocket.Fd()), n.Files[0])
		case "post-restore":
			restored = n.Pid
		}
		return nil
	})
	if err != nil {
		return criuFailure(err, work.Name(), "restore.log")
	}
	if restored == 0 {
		if resp.Restore != nil {
			restored = resp.Restore.Pid
		}
	}
	if restored <= 0 {
		return errors.New("criu restore: no pid for the restored init")
	}
	// Whatever CRIU did, the restored init runs in the container's cgroup in
	// every hierarchy, or not at all: outside it, no limit and no device
	// rule would hold.
	if err := cg.Holds(int(restored)); err != nil {
		unix.Kill(int(restored), unix.SIGKILL) // pid 1 of its namespace: the whole tree goes
		return fmt.Errorf("restored container: %w", err)
	}
	st, err := readProcStat(int(restored))
	if err != nil {
		return fmt.Errorf("read the restored init's start time: %w", err)
	}
	c.state.InitPid, c.state.InitStartTime, c.state.Creating = int(restored), st.StartTime, false
	return saveState(c.dir, c.state)
}

// bindCriuRoot binds the rootfs on <state dir>/criu-root: CRIU restores the
// container's mount tree on top of a mount, not a plain directory. The bind
// is private so nothing of it propagates to the host's other mounts.
func bindCriuRoot(stateDir, rootfs string) (string, error) {
	dir := filepath.Join(stateDir, criuRootDir)
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	if err := unix.Mount(rootfs, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return "", fmt.Errorf("bind rootfs %s on %s: %w", rootfs, dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		unbindCriuRoot(stateDir)
		return "", fmt.Errorf("make %s private: %w", dir, err)
	}
	return dir, nil
}

// unbindCriuRoot detaches the restore's root bind; a state directory is
// never removed with the rootfs still bound inside it.
func unbindCriuRoot(stateDir string) {
	dir := filepath.Join(stateDir, criuRootDir)
	for i := 0; i < 8 && unix.Unmount(dir, unix.MNT_DETACH) == nil; i++ { // binds stacked by failed restores
	}
	os.Remove(dir)
}
