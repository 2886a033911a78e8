package main

import (
	"errors"
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer"
)

var restoreCommand = &cli.Command{
	Name:      "restore",
	Usage:     "restore a container from a previous checkpoint",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "path to the root of the bundle directory (default: the current directory)"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detach from the container's process"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the process id to"},
		&cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive the pty master"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot root to jail process inside rootfs"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "disable the use of the subreaper used to reap reparented processes"},
	}, criuFlags...),
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		opts, err := criuOptions(c)
		if err != nil {
			return err
		}
		root, err := rootDir(c)
		if err != nil {
			return err
		}
		// The bundle (--bundle, or the current directory, as runc), never the
		// config saved beside the images: they are data, and a config runs hooks.
		bundle, cfg, err := loadBundle(c)
		if err != nil {
			return err
		}
		var console *os.File
		switch sock := c.String("console-socket"); {
		case sock != "" && !cfg.Process.Terminal:
			return errors.New("cannot use console socket if ocirun will not detach or allocate tty")
		case sock != "":
			if console, err = dialConsoleSocket(sock); err != nil {
				return err
			}
			defer console.Close()
		case cfg.Process.Terminal:
			return errors.New("restore of a container with a terminal needs --console-socket: the new pty master goes there")
		}
		detach := c.Bool("detach")
		var sigc chan os.Signal
		if !detach {
			if !c.Bool("no-subreaper") {
				if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
					return err
				}
			}
			sigc = make(chan os.Signal, 128)
			signal.Notify(sigc)
			defer signal.Stop(sigc)
		}
		ctr, err := libcontainer.Restore(libcontainer.RestoreOpts{
			Root: root, ID: c.Args().First(), Bundle: bundle, Config: cfg, Criu: opts,
			Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, ConsoleSocket: console,
		})
		if err != nil {
			return err
		}
		if err := writePidFile(c.String("pid-file"), ctr.State().InitPid); err != nil {
			ctr.Destroy(true)
			return err
		}
		if detach {
			ctr.Close()
			return nil
		}
		pid, id := ctr.State().InitPid, ctr.ID()
		pidfd, err := ctr.InitPidfd() // checked against the restored init's start time
		if err != nil {
			pidfd = -1 // gone already
		}
		ctr.Close()
		status := waitForInit(pid, pidfd, sigc, nil)
		if ctr, err := libcontainer.Load(root, id); err == nil {
			defer ctr.Close()
			if err := ctr.Destroy(true); err != nil {
				return err
			}
		}
		os.Exit(status)
		return nil
	},
}
