package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/criu"
)

// CriuOpts are the options of `checkpoint` and `restore`, as runc names them.
type CriuOpts struct {
	CriuPath          string // the criu binary
	ImagesDir         string // where the images are written / read
	WorkDir           string // CRIU's logs and scratch files; the images directory when empty
	ParentImage       string // a pre-dump to build on, relative to ImagesDir or absolute
	LeaveRunning      bool
	TCPEstablished    bool
	ExtUnixSk         bool
	ShellJob          bool
	FileLocks         bool
	PreDump           bool
	AutoDedup         bool
	LazyPages         bool
	StatusFd          int    // -1 for none: CRIU writes \0 there when ready (lazy pages)
	PageServer        string // ADDR:PORT of a page server to send pages to
	ManageCgroupsMode string // soft, full, strict, ignore; "" for CRIU's default
	EmptyNs           []string
}

// validStdioKey accepts what stdioKeys writes: "pipe:[N]" or "file[X:Y]"
// (N decimal, X and Y hex). No regexp: its compilation would run at every
// ocirun start, the container's init included.
func validStdioKey(key string) bool {
	digits := func(s, set string) bool {
		if s == "" {
			return false
		}
		for _, c := range s {
			if !strings.ContainsRune(set, c) {
				return false
			}
		}
		return true
	}
	if n, ok := strings.CutPrefix(key, "pipe:["); ok {
		n, ok = strings.CutSuffix(n, "]")
		return ok && digits(n, "0123456789")
	}
	if n, ok := strings.CutPrefix(key, "file["); ok {
		n, ok = strings.CutSuffix(n, "]")
		a, b, ok2 := strings.Cut(n, ":")
		return ok && ok2 && digits(a, "0123456789abcdef") && digits(b, "0123456789abcdef")
	}
	return false
}

// checkpointFile sits beside the images: what `restore` needs besides them.
const checkpointFile = "ocirun-checkpoint.json"

// checkpointInfo is the container as it was dumped.
type checkpointInfo struct {
	ID         string          `json:"id"`
	Bundle     string          `json:"bundle"`
	Config     *configs.Config `json:"config"`
	CgroupPath string          `json:"cgroup_path"`
	// Stdio holds, for fds 0-2 of the init, the CRIU key by which restore
	// hands it a new file: "pipe:[ino]" or "file[mnt:ino]" for a file from
	// outside the container; "" when CRIU restores the fd by itself.
	Stdio       [3]string `json:"stdio"`
	NetworkLock string    `json:"network_lock"`
}

// Checkpoint dumps the running container's processes into opts.ImagesDir
// through CRIU. Unless LeaveRunning or PreDump, the processes end and the
// container is then stopped; `restore` brings it back.
func (c *Container) Checkpoint(opts *CriuOpts) error {
	switch st := c.Status(); st {
	case Running, Paused:
	case Stopped:
		return fmt.Errorf("cannot checkpoint container %s: %w", c.id, ErrNotRunning)
	default:
		return fmt.Errorf("cannot checkpoint a %s container: start it first", st)
	}
	cfg, err := c.state.Config()
	if err != nil {
		return err
	}
	if opts.PreDump {
		ok, err := criu.MemTrack(opts.CriuPath)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("pre-dump: this kernel does not track dirty memory (soft-dirty bits are off)")
		}
	}
	images, work, err := openCriuDirs(opts, true)
	if err != nil {
		return err
	}
	defer images.Close()
	defer work.Close()

	info := checkpointInfo{ID: c.id, Bundle: c.state.Bundle, Config: cfg, CgroupPath: c.state.CgroupPath,
		NetworkLock: networkLockMethod()}
	pid := c.state.InitPid
	s := &criu.Swrk{Path: opts.CriuPath}
	ro := baseCriuOpts(opts, images, work, "dump.log")
	ro.Pid = new(int32(pid))
	ro.Root = new(cfg.Rootfs)
	ro.LeaveRunning = new(opts.LeaveRunning || opts.PreDump)
	ro.NetworkLock = networkLockOpt(info.NetworkLock)
	if m, err := c.cgroup(); err == nil {
		if dir := m.FreezerDir(); dir != "" {
			ro.FreezeCgroup = new(dir)
		}
	}
	for _, m := range cfg.Mounts {
		if m.IsBind() {
			ro.External = append(ro.External, fmt.Sprintf("mnt[%s]:%s", m.Destination, m.Destination))
		}
	}
	if userns := cfg.Has("user"); userns {
		for _, d := range cfg.Devices { // bound from the host's /dev (devices.go)
			ro.External = append(ro.External, fmt.Sprintf("mnt[%s]:%s", d.Path, d.Path))
		}
	}
	for _, t := range externalNamespaces {
		if p := cfg.NamespacePath(t.spec); p != "" {
			var st unix.Stat_t
			if err := unix.Stat(p, &st); err != nil {
				return fmt.Errorf("namespace %s %s: %w", t.spec, p, err)
			}
			ro.External = append(ro.External, fmt.Sprintf("%s[%d]:%s", t.criu, st.Ino, t.key))
		}
	}
	if info.Stdio, err = stdioKeys(pid); err != nil {
		return err
	}
	for _, k := range info.Stdio {
		if strings.HasPrefix(k, "file[") {
			ro.External = append(ro.External, k)
		}
	}
	if opts.PreDump {
		ro.TrackMem = new(true)
	}
	if opts.ParentImage != "" {
		ro.ParentImg = new(opts.ParentImage)
		ro.TrackMem = new(true)
	}
	// Written first: a dump that ends the processes must leave what restore needs.
	if err := writeCheckpointInfo(images, &info); err != nil {
		return err
	}
	if _, err := s.Start(); err != nil {
		return err
	}
	typ := criu.ReqDump
	if opts.PreDump {
		typ = criu.ReqPreDump
	}
	_, err = s.Call(typ, ro, nil, nil)
	closeErr := s.Close()
	if err != nil {
		return criuFailure(err, work.Name(), "dump.log")
	}
	// After a pre-dump CRIU waits for the next request of the series and
	// exits non-zero when the socket closes instead: that is not a failure.
	if closeErr != nil && !opts.PreDump {
		return closeErr
	}
	if !opts.LeaveRunning && !opts.PreDump {
		c.kill() // CRIU has killed the tree; wait until the init is gone for sure
	}
	return nil
}

// externalNamespaces are the namespaces that a container may join and CRIU
// then leaves alone at dump and joins again at restore, by a key.
var externalNamespaces = []struct{ spec, criu, key string }{
	{"network", "net", "extRootNetNS"},
	{"pid", "pid", "extRootPidNS"},
}

// baseCriuOpts are the RPC options dump and restore share.
func baseCriuOpts(opts *CriuOpts, images, work *os.File, log string) *criu.Opts {
	ro := &criu.Opts{
		ImagesDirFd:     int32(images.Fd()), // our numbers: CRIU opens /proc/<us>/fd/N
		WorkDirFd:       new(int32(work.Fd())),
		LogLevel:        new(int32(4)),
		LogFile:         new(log),
		ManageCgroups:   new(true),
		ShellJob:        new(opts.ShellJob),
		TcpEstablished:  new(opts.TCPEstablished),
		ExtUnixSk:       new(opts.ExtUnixSk),
		FileLocks:       new(opts.FileLocks),
		OrphanPtsMaster: new(true),
		AutoDedup:       new(opts.AutoDedup),
		LazyPages:       new(opts.LazyPages),
	}
	if mode, ok := cgroupModes[opts.ManageCgroupsMode]; ok && opts.ManageCgroupsMode != "" {
		ro.ManageCgroupsMode = new(mode)
	}
	if opts.StatusFd >= 0 {
		ro.StatusFd = new(int32(opts.StatusFd))
	}
	if opts.PageServer != "" {
		addr, port, _ := strings.Cut(opts.PageServer, ":")
		p, _ := strconv.Atoi(port)
		ro.Ps = &criu.PageServerInfo{Address: new(addr), Port: new(int32(p))}
	}
	var mask uint32
	for _, ns := range opts.EmptyNs {
		mask |= namespaceFlags[ns]
	}
	if mask != 0 {
		ro.EmptyNs = new(mask)
	}
	return ro
}

var cgroupModes = map[string]criu.CgMode{
	"soft": criu.CgSoft, "full": criu.CgFull,
	"strict": criu.CgStrict, "ignore": criu.CgIgnore,
}

var namespaceFlags = map[string]uint32{
	"network": unix.CLONE_NEWNET, "ipc": unix.CLONE_NEWIPC, "uts": unix.CLONE_NEWUTS,
	"mount": unix.CLONE_NEWNS, "pid": unix.CLONE_NEWPID, "user": unix.CLONE_NEWUSER,
	"cgroup": unix.CLONE_NEWCGROUP,
}

// ValidateCriuOpts checks the options that come as text, before anything runs.
func ValidateCriuOpts(opts *CriuOpts) error {
	if _, ok := cgroupModes[opts.ManageCgroupsMode]; !ok && opts.ManageCgroupsMode != "" {
		return fmt.Errorf("--manage-cgroups-mode %q: must be soft, full, strict or ignore", opts.ManageCgroupsMode)
	}
	for _, ns := range opts.EmptyNs {
		if _, ok := namespaceFlags[ns]; !ok {
			return fmt.Errorf("--empty-ns %q: not a namespace (network, ipc, uts, mount, pid, user, cgroup)", ns)
		}
	}
	if opts.PageServer != "" {
		addr, port, ok := strings.Cut(opts.PageServer, ":")
		if p, err := strconv.Atoi(port); !ok || addr == "" || err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("--page-server %q: must be ADDRESS:PORT", opts.PageServer)
		}
	}
	if opts.StatusFd >= 0 {
		if _, err := unix.FcntlInt(uintptr(opts.StatusFd), unix.F_GETFD, 0); err != nil {
			return fmt.Errorf("--status-fd %d: not an open file descriptor", opts.StatusFd)
		}
	}
	return nil
}

// openCriuDirs opens the images and work directories, making what is missing.
func openCriuDirs(opts *CriuOpts, create bool) (images, work *os.File, err error) {
	if opts.WorkDir == "" {
		opts.WorkDir = opts.ImagesDir
	}
	// A dump makes both; a restore only its work directory (its logs go
	// there), never the images it is to read.
	dirs := []string{opts.WorkDir}
	if create {
		dirs = append(dirs, opts.ImagesDir)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if images, err = os.OpenFile(opts.ImagesDir, os.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
		return nil, nil, fmt.Errorf("images directory: %w", err)
	}
	if work, err = os.OpenFile(opts.WorkDir, os.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
		images.Close()
		return nil, nil, fmt.Errorf("work directory: %w", err)
	}
	return images, work, nil
}

// stdioKeys names the init's stdio for CRIU: pipes and files from outside the
// container are external to the dump and handed over again at restore.
func stdioKeys(pid int) ([3]string, error) {
	var keys [3]string
	mounts, err := mountIDs(pid)
	if err != nil {
		return keys, err
	}
	for fd := 0; fd < 3; fd++ {
		p := fmt.Sprintf("/proc/%d/fd/%d", pid, fd)
		link, err := os.Readlink(p)
		if err != nil {
			continue // closed
		}
		switch {
		case strings.HasPrefix(link, "pipe:"):
			keys[fd] = link
		case strings.HasPrefix(link, "/"):
			mnt, err := fdMountID(pid, fd)
			if err != nil {
				return keys, err
			}
			if mounts[mnt] {
				continue
			}
			var st unix.Stat_t
			if err := unix.Stat(p, &st); err != nil {
				return keys, fmt.Errorf("stat init fd %d: %w", fd, err)
			}
			keys[fd] = fmt.Sprintf("file[%x:%x]", mnt, st.Ino)
		}
	}
	return keys, nil
}

// mountIDs is the set of mount ids in pid's mount namespace.
func mountIDs(pid int) (map[int]bool, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return nil, fmt.Errorf("read init's mounts: %w", err)
	}
	ids := map[int]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if id, err := strconv.Atoi(f[0]); err == nil {
				ids[id] = true
			}
		}
	}
	return ids, nil
}

// fdMountID reads the mount id of an open file from /proc/PID/fdinfo.
func fdMountID(pid, fd int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return 0, fmt.Errorf("read init's fd %d: %w", fd, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "mnt_id:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("init's fd %d: no mnt_id in fdinfo", fd)
}

// networkLockMethod picks how CRIU cuts the network while it works: with
// iptables when the host has it (CRIU runs iptables-restore), otherwise with
// nftables, which CRIU does through its own library.
func networkLockMethod() string {
	if _, err := exec.LookPath("iptables-restore"); err == nil {
		return "iptables"
	}
	return "nftables"
}

func networkLockOpt(method string) *criu.NetworkLockMethod {
	if method == "nftables" {
		return new(criu.NetworkLockNftables)
	}
	return new(criu.NetworkLockIptables)
}

// writeCheckpointInfo writes the checkpoint description into the images
// directory through its fd: a new file (O_EXCL, O_NOFOLLOW, so a symlink
// planted in a shared directory is not followed), renamed into place.
func writeCheckpointInfo(images *os.File, info *checkpointInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode checkpoint info: %w", err)
	}
	dirfd, tmp := int(images.Fd()), "."+checkpointFile+".tmp"
	p := filepath.Join(images.Name(), checkpointFile)
	if err := unix.Unlinkat(dirfd, tmp, 0); err != nil && err != unix.ENOENT {
		return fmt.Errorf("write %s: %w", p, err)
	}
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = unix.Renameat(dirfd, tmp, dirfd, checkpointFile)
	}
	if werr != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return fmt.Errorf("write %s: %w", p, werr)
	}
	return nil
}

func readCheckpointInfo(dir string) (*checkpointInfo, error) {
	p := filepath.Join(dir, checkpointFile)
	data, err := os.ReadFile(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: no ocirun checkpoint here (missing %s)", dir, checkpointFile)
		}
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	var info checkpointInfo
	if err := json.Unmarshal(data, &info); err != nil || info.Config == nil {
		return nil, fmt.Errorf("%s: not a valid checkpoint description", p)
	}
	// Restore uses only the stdio keys and the network lock method from
	// here (the config comes from the bundle): both go to CRIU, checked.
	for fd, key := range info.Stdio {
		if key != "" && !validStdioKey(key) {
			return nil, fmt.Errorf("%s: stdio[%d] %q is not a pipe or external file key", p, fd, key)
		}
	}
	if info.NetworkLock != "iptables" && info.NetworkLock != "nftables" {
		return nil, fmt.Errorf("%s: network_lock %q: must be iptables or nftables", p, info.NetworkLock)
	}
	return &info, nil
}

// criuFailure turns a failed CRIU request into one line: what failed, the
// last errors of CRIU's log, and where the whole log is.
func criuFailure(err error, workDir, log string) error {
	p := filepath.Join(workDir, log)
	tail := criu.LogErrors(p, 3)
	var ce *criu.Error
	if errors.As(err, &ce) {
		if tail == "" {
			tail = strings.TrimSpace(ce.Msg)
		}
		return fmt.Errorf("criu %s failed: %s (log: %s)", ce.Op, tail, p)
	}
	if tail != "" {
		return fmt.Errorf("%w: %s (log: %s)", err, tail, p)
	}
	return fmt.Errorf("%w (log: %s)", err, p)
}
