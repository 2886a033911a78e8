package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer"
)

// event is one line of `events`: {"type","id","data"} as runc prints it.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "display container events such as OOM notifications and cpu, memory, and IO usage statistics",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "set the stats collection interval"},
		&cli.BoolFlag{Name: "stats", Usage: "display the container's stats then exit"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		if c.Duration("interval") <= 0 {
			return fmt.Errorf("--interval must be greater than 0")
		}
		root, err := rootDir(c)
		if err != nil {
			return err
		}
		id := c.Args().First()
		ctr, err := libcontainer.Read(root, id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		if c.Bool("stats") {
			s, err := ctr.Stats()
			if err != nil {
				return err
			}
			return enc.Encode(event{Type: "stats", ID: id, Data: s})
		}
		return streamEvents(ctr, id, c.Duration("interval"), enc)
	},
}

// streamEvents prints stats every interval and an "oom" event as soon as the
// kernel kills for memory, until the container stops.
func streamEvents(ctr *libcontainer.Container, id string, interval time.Duration, enc *json.Encoder) error {
	m, err := ctr.CgroupManager()
	if err != nil {
		return err
	}
	oomFd, err := m.OOMNotifier()
	if err != nil {
		return fmt.Errorf("watch for OOM kills: %w", err)
	}
	defer unix.Close(oomFd)
	seen := m.OOMKills()
	next := time.Now()
	buf := make([]byte, 4096)
	for {
		if ctr.Status() == libcontainer.Stopped {
			return nil
		}
		if !time.Now().Before(next) {
			if s, err := ctr.Stats(); err == nil {
				enc.Encode(event{Type: "stats", ID: id, Data: s})
			}
			next = time.Now().Add(interval)
		}
		wait := time.Until(next)
		fds := []unix.PollFd{{Fd: int32(oomFd), Events: unix.POLLIN}}
		// Wake at least once a second to notice the container's end.
		n, err := unix.Poll(fds, int(min(wait, time.Second).Milliseconds())+1)
		if err != nil && err != unix.EINTR {
			return err
		}
		if n > 0 {
			unix.Read(oomFd, buf)
		}
		// The notification can come before the kill is counted: check on every wake.
		if kills := m.OOMKills(); kills > seen {
			seen = kills
			enc.Encode(event{Type: "oom", ID: id})
		}
	}
}
