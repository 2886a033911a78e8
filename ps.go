package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ocirun/ocirun/libcontainer"
)

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "ps displays the processes running inside a container",
	ArgsUsage: "<container-id> [ps options]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "select one of: table or json"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 {
			return fmt.Errorf(`"ps" requires a minimum of 1 argument`)
		}
		root, err := rootDir(c)
		if err != nil {
			return err
		}
		ctr, err := libcontainer.Read(root, c.Args().First())
		if err != nil {
			return err
		}
		pids, err := ctr.Processes()
		if err != nil {
			return err
		}
		switch c.String("format") {
		case "json":
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		case "table":
		default:
			return fmt.Errorf("invalid format option %q", c.String("format"))
		}
		// The host's ps(1), filtered to the container's pids, as runc does.
		psArgs := c.Args().Slice()[1:]
		if len(psArgs) == 0 {
			psArgs = []string{"-ef"}
		}
		out, err := exec.Command("ps", psArgs...).Output()
		if err != nil {
			return fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		pidCol := -1
		for i, h := range strings.Fields(lines[0]) {
			if h == "PID" {
				pidCol = i
			}
		}
		if pidCol < 0 {
			return fmt.Errorf("ps output has no PID column")
		}
		in := map[int]bool{}
		for _, p := range pids {
			in[p] = true
		}
		fmt.Println(lines[0])
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) > pidCol {
				if p, err := strconv.Atoi(f[pidCol]); err == nil && in[p] {
					fmt.Println(l)
				}
			}
		}
		return nil
	},
}
