package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer"
)

// createFlags are shared by create and run, as in runc.
var createFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "path to the root of the bundle directory"},
	&cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive the pty master"},
	&cli.StringFlag{Name: "pid-file", Usage: "file to write the process id to"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot root to jail process inside rootfs"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "do not create a new session keyring for the container"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"},
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container",
	ArgsUsage: "<container-id>",
	Flags:     createFlags,
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		ctr, err := createContainer(c, true, nil, nil)
		if err != nil {
			return err
		}
		ctr.Close()
		return nil
	},
}

// createContainer is create's work, shared with run. detach says whether
// ocirun leaves before the container ends: then a terminal needs a console
// socket. tty, when not nil, is an internal socket for run's own terminal.
// beforeInit, when not nil, is called before the container's init is started.
func createContainer(c *cli.Context, detach bool, tty *os.File, beforeInit func()) (*libcontainer.Container, error) {
	id, err := containerID(c)
	if err != nil {
		return nil, err
	}
	root, err := rootDir(c)
	if err != nil {
		return nil, err
	}
	if n := c.Int("preserve-fds"); n < 0 {
		return nil, fmt.Errorf("--preserve-fds %d: must not be negative", n)
	}
	bundle, cfg, err := loadBundle(c)
	if err != nil {
		return nil, err
	}
	preserve := c.Int("preserve-fds")
	if n := listenFds(); n > 0 {
		// systemd socket activation, as runc passes it on: the sockets go
		// first (fds 3...), and the container's process is told they are its own.
		preserve += n
		cfg.Process.Env = append(cfg.Process.Env, "LISTEN_FDS="+strconv.Itoa(n), "LISTEN_PID=1")
	}
	var consoleSock *os.File
	if cfg.Process.Terminal {
		consoleSock = tty
	}
	sockPath := c.String("console-socket")
	switch {
	case cfg.Process.Terminal && sockPath == "" && tty == nil:
		if detach {
			return nil, errors.New("cannot allocate tty if ocirun will detach without setting console socket")
		}
	case !cfg.Process.Terminal && sockPath != "":
		return nil, errors.New("cannot use console socket if ocirun will not detach or allocate tty")
	case cfg.Process.Terminal && sockPath != "":
		if consoleSock, err = dialConsoleSocket(sockPath); err != nil {
			return nil, err
		}
		defer consoleSock.Close()
	}
	if beforeInit != nil {
		beforeInit()
	}
	ctr, err := libcontainer.Create(libcontainer.CreateOpts{
		Root: root, ID: id, Bundle: bundle, Config: cfg,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		PreserveFds: preserve, ConsoleSocket: consoleSock,
		NoPivot: c.Bool("no-pivot"), NoNewKeyring: c.Bool("no-new-keyring"),
		// The Go init for every container (docs/DESIGN.md): the tests run
		// their containers both ways with it.
		GoInit: os.Getenv("OCIRUN_GO_INIT") == "1",
	})
	if err != nil {
		return nil, err
	}
	if err := writePidFile(c.String("pid-file"), ctr.State().InitPid); err != nil {
		ctr.Destroy(true)
		return nil, err
	}
	return ctr, nil
}

// listenFds is how many sockets systemd passed us for socket activation:
// $LISTEN_FDS when $LISTEN_PID is our pid (sd_listen_fds(3)), else none.
func listenFds() int {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return 0
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// dialConsoleSocket connects to the socket that receives the terminal's
// master, with socket(2) and connect(2) themselves: the net package would be
// linked, and initialised at every command, for this one call.
func dialConsoleSocket(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("--console-socket %s: %w", path, err)
	}
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	for err == unix.EINTR { // the connection goes on: ask until it is made
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err == unix.EISCONN {
			err = nil
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("--console-socket %s: connect: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}
