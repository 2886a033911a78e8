package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/ocirun/ocirun/libcontainer"
)

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete any resources held by the container (often used with detached containers)",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "forcibly delete the container if it is still running (uses SIGKILL)"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		force := c.Bool("force")
		ctr, err := loadContainer(c)
		if errors.Is(err, libcontainer.ErrNotExist) {
			// A create that died before writing state leaves only a directory.
			root, rerr := rootDir(c)
			if rerr == nil {
				rerr = libcontainer.RemoveStale(root, c.Args().First())
			}
			if force && rerr == nil {
				return nil
			}
			return err
		}
		if err != nil {
			return err
		}
		defer ctr.Close()
		return ctr.Destroy(force)
	},
}
