package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer"
	"github.com/ocirun/ocirun/libcontainer/capabilities"
	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/specconv"
)

// execFailed is runc's exit code for an exec that could not start its process.
const execFailed = 255

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "execute new process inside the container",
	ArgsUsage: "<container-id> <command> [command options]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive the pty master"},
		&cli.StringFlag{Name: "cwd", Usage: "current working directory in the container"},
		&cli.StringSliceFlag{Name: "env", Usage: "set environment variables"},
		// -e is its own flag: urfave/cli refuses "-e A --env B" for aliases, runc takes it.
		&cli.StringSliceFlag{Name: "e", Hidden: true},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "UID (format: <uid>[:<gid>])"},
		&cli.Int64SliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional gids"},
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "path to the process.json"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detach from the container's process"},
		&cli.StringFlag{Name: "pid-file", Usage: "specify the file to write the process id to"},
		&cli.StringFlag{Name: "apparmor", Usage: "set the apparmor profile for the process"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set the no new privileges value for the process"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability to the bounding set for the process"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass N additional file descriptors to the container"},
		&cli.BoolFlag{Name: "ignore-paused", Usage: "allow exec in a paused container"},
	},
	SkipFlagParsing: false,
	Action: func(c *cli.Context) error {
		status, err := execProcess(c)
		if err != nil {
			fatalWith(c.App, err, execFailed)
		}
		os.Exit(status)
		return nil
	},
}

// execProcess runs exec and returns the exit status to leave with.
func execProcess(c *cli.Context) (int, error) {
	if c.NArg() < 1 {
		return 0, errors.New(`"exec" requires a minimum of 1 argument`)
	}
	detach := c.Bool("detach")
	sigc := make(chan os.Signal, 128)
	signalsCaught := func() {}
	if !detach {
		var err error
		if signalsCaught, err = relayAllSignals(sigc); err != nil {
			return 0, err
		}
	}
	ctr, err := loadContainer(c)
	if err != nil {
		return 0, err
	}
	cfg, err := ctr.State().Config()
	var p *configs.Process
	if err == nil {
		p, err = execSpec(c, cfg.Process)
	}
	if err != nil {
		ctr.Close()
		return 0, err
	}
	if !detach {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			ctr.Close()
			return 0, fmt.Errorf("become child subreaper: %w", err)
		}
	}
	opts := libcontainer.ExecOpts{Process: p, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		PreserveFds: c.Int("preserve-fds"), IgnorePaused: c.Bool("ignore-paused"),
		GoInit: os.Getenv("OCIRUN_GO_INIT") == "1", BeforeStart: signalsCaught}
	var tty *ttyRelay
	var ttyParent *os.File
	sockPath := c.String("console-socket")
	switch {
	case p.Terminal && sockPath != "":
		if opts.ConsoleSocket, err = dialConsoleSocket(sockPath); err != nil {
			ctr.Close()
			return 0, err
		}
		defer opts.ConsoleSocket.Close()
	case p.Terminal && detach:
		ctr.Close()
		return 0, errors.New("cannot allocate tty if ocirun will detach without setting console socket")
	case p.Terminal:
		var child *os.File
		if ttyParent, child, err = unixSocketPair(); err != nil {
			ctr.Close()
			return 0, err
		}
		defer ttyParent.Close()
		opts.ConsoleSocket = child
	case sockPath != "":
		ctr.Close()
		return 0, errors.New("cannot use console socket if ocirun will not detach or allocate tty")
	}
	pid, err := ctr.Exec(opts) // calls signalsCaught before the process exists

	ctr.Close() // others may use the container while the process runs
	if ttyParent != nil {
		opts.ConsoleSocket.Close()
	}
	if err != nil {
		return 0, err
	}
	if err := writePidFile(c.String("pid-file"), pid); err != nil {
		return 0, err
	}
	if detach {
		return 0, nil
	}
	if ttyParent != nil {
		if tty, err = newTTYRelay(ttyParent); err != nil {
			return 0, err
		}
		defer tty.Close()
	}
	// Our descendant (we are its subreaper): no one else reaps it, its pid stays its own.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		pidfd = -1 // gone already
	}
	status := waitForInit(pid, pidfd, sigc, tty)
	if tty != nil {
		tty.Drain()
	}
	return status, nil
}

// execSpec builds the process: --process as given, or the container's
// process with the command line's args and overrides, as runc does.
func execSpec(c *cli.Context, base *configs.Process) (*configs.Process, error) {
	if path := c.String("process"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		var sp specs.Process
		if err := json.Unmarshal(data, &sp); err != nil {
			return nil, fmt.Errorf("--process %s: %w", path, err)
		}
		return specconv.ConvertProcess(&sp)
	}
	if c.NArg() < 2 {
		return nil, errors.New("exec: no command given (and no --process)")
	}
	p := *base
	p.Args = c.Args().Slice()[1:]
	p.Env = mergeEnv(mergeEnv(base.Env, c.StringSlice("env")), c.StringSlice("e"))
	p.Terminal = c.Bool("tty")
	p.ConsoleHeight, p.ConsoleWidth = 0, 0
	if cwd := c.String("cwd"); cwd != "" {
		p.Cwd = cwd
	}
	if u := c.String("user"); u != "" {
		uid, gid, err := parseUser(u)
		if err != nil {
			return nil, err
		}
		p.UID, p.GID = uid, gid
	}
	for _, g := range c.Int64Slice("additional-gids") {
		p.AdditionalGids = append(p.AdditionalGids, uint32(g))
	}
	if caps := c.StringSlice("cap"); len(caps) > 0 {
		cp := configs.Capabilities{}
		if base.Capabilities != nil {
			cp = *base.Capabilities
		}
		for _, name := range caps {
			n, err := capabilities.FromName(name)
			if err != nil {
				return nil, fmt.Errorf("--cap: %w", err)
			}
			cp.Bounding = append(append([]int{}, cp.Bounding...), n)
			cp.Effective = append(append([]int{}, cp.Effective...), n)
			cp.Permitted = append(append([]int{}, cp.Permitted...), n)
		}
		p.Capabilities = &cp
	}
	if c.Bool("no-new-privs") {
		p.NoNewPrivileges = true
	}
	if a := c.String("apparmor"); a != "" {
		p.ApparmorProfile = a
	}
	return &p, nil
}

// mergeEnv sets each KEY=VALUE of extra over env, replacing an existing KEY.
func mergeEnv(env, extra []string) []string {
	out := append([]string{}, env...)
	for _, e := range extra {
		key, _, _ := strings.Cut(e, "=")
		replaced := false
		for i, o := range out {
			if k, _, _ := strings.Cut(o, "="); k == key {
				out[i], replaced = e, true
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return out
}

// parseUser takes "UID" or "UID:GID" (numbers).
func parseUser(s string) (uint32, uint32, error) {
	us, gs, hasGid := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--user %q: must be <uid>[:<gid>] as numbers", s)
	}
	gid := uint64(0)
	if hasGid {
		if gid, err = strconv.ParseUint(gs, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("--user %q: must be <uid>[:<gid>] as numbers", s)
		}
	}
	return uint32(uid), uint32(gid), nil
}
