package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ocirun/ocirun/libcontainer"
)

var stateCommand = &cli.Command{
	Name:      "state",
	Usage:     "output the state of a container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1); err != nil {
			return err
		}
		root, err := rootDir(c)
		if err != nil {
			return err
		}
		ctr, err := libcontainer.Read(root, c.Args().First())
		if err != nil {
			return err
		}
		data, err := json.MarshalIndent(ctr.OCIState(), "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(data))
		return nil
	},
}
