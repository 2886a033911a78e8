package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and run a container",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detach from the container's process"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "disable the use of the subreaper used to reap reparented processes"},
	}, createFlags...),
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		if c.Bool("detach") {
			ctr, err := createContainer(c, true, nil, nil)
			if err != nil {
				return err
			}
			defer ctr.Close()
			if err := ctr.Start(); err != nil {
				ctr.Destroy(true)
				return err
			}
			return nil
		}
		status, err := runForeground(c)
		if err != nil {
			return err
		}
		os.Exit(status)
		return nil
	},
}

// runForeground creates and starts the container, forwards signals to it,
// reaps it as a child subreaper, deletes it and returns its exit status.
func runForeground(c *cli.Context) (int, error) {
	if !c.Bool("no-subreaper") {
		// The init is forked below our direct child: be the one it is reparented to.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("become child subreaper: %w", err)
		}
	}
	// Catch signals before the init exists, so none is lost or kills us.
	sigc := make(chan os.Signal, 128)
	signalsCaught, err := relayAllSignals(sigc)
	if err != nil {
		return 0, err
	}

	var tty *ttyRelay
	ttyParent, ttyChild, err := unixSocketPair()
	if err != nil {
		return 0, err
	}
	defer ttyParent.Close()
	ctr, err := createContainer(c, false, ttyChild, signalsCaught)
	ttyChild.Close()
	if err != nil {
		return 0, err
	}
	cfg, err := ctr.State().Config()
	if err != nil {
		ctr.Destroy(true)
		return 0, err
	}
	if cfg.Process.Terminal && c.String("console-socket") == "" {
		if tty, err = newTTYRelay(ttyParent); err != nil {
			ctr.Destroy(true)
			return 0, err
		}
		defer tty.Close()
	}
	if err := ctr.Start(); err != nil {
		ctr.Destroy(true)
		return 0, err
	}
	pid := ctr.State().InitPid
	id := ctr.ID()
	ctr.Close() // let kill, state and exec take the lock while the container runs
	status := waitForInit(pid, sigc, tty, c.Bool("no-subreaper"))
	if tty != nil {
		tty.Drain()
	}
	if c.Bool("keep") {
		return status, nil
	}
	rootDirPath, err := rootDir(c)
	if err != nil {
		return status, err
	}
	if ctr, err := libcontainer.Load(rootDirPath, id); err == nil {
		defer ctr.Close()
		if err := ctr.Destroy(true); err != nil {
			return status, err
		}
	}
	return status, nil
}

// waitForInit forwards every signal to the init (but those the Go runtime
// uses itself) and reaps children until the init exits. Its status is
// returned as a shell does: the exit code, or 128+N for signal N.
func waitForInit(pid int, sigc chan os.Signal, tty *ttyRelay, noSubreaper bool) int {
	exited := make(chan int, 1)
	go reapUntil(pid, exited)
	for {
		select {
		case st := <-exited:
			return st
		case sig := <-sigc:
			switch sig {
			case unix.SIGCHLD: // reapUntil waits for the children
			case unix.SIGURG: // the Go runtime's own preemption signal
			case unix.SIGWINCH:
				if tty != nil {
					tty.Resize()
				}
			default:
				unix.Kill(pid, sig.(unix.Signal))
			}
			if noSubreaper && unix.Kill(pid, 0) == unix.ESRCH {
				select {
				case st := <-exited:
					return st
				default:
					return 0 // not our child: its status went to whoever reaped it
				}
			}
		}
	}
}

// reapUntil collects every exited child until the init exits, and sends
// its status. It blocks in wait4 rather than waiting for SIGCHLD, which
// reaches us through the runtime's signal goroutine and then ours (0.2-1 ms
// after the exit here). With no child left (the init is no child of ours:
// -no-subreaper) it ends without a status.
func reapUntil(pid int, exited chan<- int) {
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		if p == pid {
			if ws.Signaled() {
				exited <- 128 + int(ws.Signal())
			} else {
				exited <- ws.ExitStatus()
			}
			return
		}
	}
}

func unixSocketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "tty-parent"), os.NewFile(uintptr(fds[1]), "tty-child"), nil
}
