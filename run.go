package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

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
	// The init's pidfd before it starts: with -no-subreaper it may exit and
	// be reaped by another, its pid reused, before waitForInit.
	pidfd, err := ctr.InitPidfd()
	if err != nil {
		ctr.Destroy(true)
		return 0, err
	}
	if err := ctr.Start(); err != nil {
		unix.Close(pidfd)
		ctr.Destroy(true)
		return 0, err
	}
	pid := ctr.State().InitPid
	id := ctr.ID()
	ctr.Close() // let kill, state and exec take the lock while the container runs
	status := waitForInit(pid, pidfd, sigc, tty)
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
// returned as a shell does: the exit code, or 128+N for signal N; 0 for an
// init that is no child of ours (-no-subreaper), whose status went to
// whoever reaped it. Signals go through pidfd (-1: the init is gone), which
// waitForInit closes: once the init is reaped its pid may be another
// process's.
func waitForInit(pid, pidfd int, sigc chan os.Signal, tty *ttyRelay) int {
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}
	send := func(sig unix.Signal) error {
		if pidfd < 0 {
			return unix.ESRCH
		}
		return unix.PidfdSendSignal(pidfd, sig, nil, 0)
	}
	exited := make(chan int, 1)
	go reapUntil(pid, pidfd, exited)
	for {
		select {
		case st, ok := <-exited:
			if !ok {
				return 0
			}
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
				send(sig.(unix.Signal))
			}
		}
	}
}

// reapUntil collects exited children until the init exits, and sends its
// status. It blocks in waitid rather than waiting for SIGCHLD, which
// reaches us through the runtime's signal goroutine and then ours (0.2-1 ms
// after the exit here). Each exit is seen first with WNOWAIT: the init's
// status is sent while it is still a zombie, then it is reaped. An init
// that is no child of ours (-no-subreaper) is waited for on its pidfd,
// and exited is closed without a status.
func reapUntil(pid, pidfd int, exited chan<- int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil { // ECHILD: the init is not ours to reap
			waitPidfd(pidfd)
			close(exited)
			return
		}
		c := childOf(&info)
		if c.pid == pid {
			exited <- c.shellStatus()
		}
		var ws unix.WaitStatus
		unix.Wait4(c.pid, &ws, unix.WNOHANG, nil)
		if c.pid == pid {
			return
		}
	}
}

// child is what waitid says of an exited child.
type child struct{ pid, code, status int }

// childOf reads siginfo_t for SIGCHLD: si_signo, si_errno and si_code (the
// last two swapped on MIPS), then a union aligned as a pointer is, which
// starts with si_pid, si_uid and si_status. x/sys/unix leaves those fields
// opaque.
func childOf(info *unix.Siginfo) child {
	word := func(off uintptr) int {
		return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), off)))
	}
	code := uintptr(8)
	if strings.HasPrefix(runtime.GOARCH, "mips") {
		code = 4
	}
	ptr := unsafe.Sizeof(uintptr(0))
	union := (12 + ptr - 1) &^ (ptr - 1) // 16 on 64-bit, 12 on 32-bit
	return child{pid: word(union), code: word(code), status: word(union + 8)}
}

const cldExited = 1 // siginfo's si_code for a child that exited (CLD_EXITED)

// shellStatus is the exit code, or 128+N for a child killed by signal N.
func (c child) shellStatus() int {
	if c.code == cldExited {
		return c.status
	}
	return 128 + c.status
}

// waitPidfd returns once the process exits (at once for no pidfd).
func waitPidfd(pidfd int) {
	for pidfd >= 0 {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, -1)
		if err != unix.EINTR {
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
