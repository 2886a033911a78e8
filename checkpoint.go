package main

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/ocirun/ocirun/libcontainer"
)

// criuFlags are shared by checkpoint and restore, as in runc.
var criuFlags = []cli.Flag{
	&cli.StringFlag{Name: "image-path", Usage: "path for saving criu image files (default: ./checkpoint)"},
	&cli.StringFlag{Name: "work-path", Usage: "path for saving work files and logs (default: the image path)"},
	&cli.BoolFlag{Name: "tcp-established", Usage: "allow open tcp connections"},
	&cli.BoolFlag{Name: "ext-unix-sk", Usage: "allow external unix sockets"},
	&cli.BoolFlag{Name: "shell-job", Usage: "allow shell jobs"},
	&cli.BoolFlag{Name: "file-locks", Usage: "handle file locks, for safety"},
	&cli.BoolFlag{Name: "lazy-pages", Usage: "use userfaultfd to lazily restore memory pages"},
	&cli.StringFlag{Name: "status-fd", Usage: "criu writes \\0 to this FD once lazy-pages is ready"},
	&cli.StringFlag{Name: "page-server", Usage: "ADDRESS:PORT of the page server"},
	&cli.StringFlag{Name: "manage-cgroups-mode", Usage: "cgroups mode: soft|full|strict|ignore (default: soft)"},
	&cli.StringSliceFlag{Name: "empty-ns", Usage: "create a namespace, but don't restore its properties"},
	&cli.BoolFlag{Name: "auto-dedup", Usage: "enable auto deduplication of memory images"},
}

var checkpointCommand = &cli.Command{
	Name:      "checkpoint",
	Usage:     "checkpoint a running container",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "parent-path", Usage: "path for previous criu image files in pre-dump"},
		&cli.BoolFlag{Name: "leave-running", Usage: "leave the process running after checkpointing"},
		&cli.BoolFlag{Name: "pre-dump", Usage: "dump the container's memory only, leaving the container running"},
	}, criuFlags...),
	Action: func(c *cli.Context) error {
		opts, err := criuOptions(c)
		if err != nil {
			return err
		}
		return onContainer(c, func(ctr *libcontainer.Container) error {
			return ctr.Checkpoint(opts)
		})
	},
}

// criuOptions reads the flags of checkpoint and restore.
func criuOptions(c *cli.Context) (*libcontainer.CriuOpts, error) {
	images := c.String("image-path")
	if images == "" {
		images = "checkpoint"
	}
	images, err := filepath.Abs(images)
	if err != nil {
		return nil, fmt.Errorf("--image-path: %w", err)
	}
	work := c.String("work-path")
	if work != "" {
		if work, err = filepath.Abs(work); err != nil {
			return nil, fmt.Errorf("--work-path: %w", err)
		}
	}
	statusFd := -1
	if s := c.String("status-fd"); s != "" {
		if statusFd, err = strconv.Atoi(s); err != nil || statusFd < 0 {
			return nil, fmt.Errorf("--status-fd %q: must be a file descriptor number", s)
		}
	}
	opts := &libcontainer.CriuOpts{
		CriuPath:          criuPath(c),
		ImagesDir:         images,
		WorkDir:           work,
		ParentImage:       c.String("parent-path"),
		LeaveRunning:      c.Bool("leave-running"),
		TCPEstablished:    c.Bool("tcp-established"),
		ExtUnixSk:         c.Bool("ext-unix-sk"),
		ShellJob:          c.Bool("shell-job"),
		FileLocks:         c.Bool("file-locks"),
		PreDump:           c.Bool("pre-dump"),
		AutoDedup:         c.Bool("auto-dedup"),
		LazyPages:         c.Bool("lazy-pages"),
		StatusFd:          statusFd,
		PageServer:        c.String("page-server"),
		ManageCgroupsMode: c.String("manage-cgroups-mode"),
		EmptyNs:           c.StringSlice("empty-ns"),
	}
	if err := libcontainer.ValidateCriuOpts(opts); err != nil {
		return nil, err
	}
	return opts, nil
}

// criuPath is the global --criu: a path, or a name looked up in PATH.
func criuPath(c *cli.Context) string {
	p := c.String("criu")
	if p == "" {
		p = "criu"
	}
	return p
}
