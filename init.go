package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// initCommand is the container's init; main() takes it before the CLI when
// ocirun itself started it, so reaching this action means someone else did.
var initCommand = &cli.Command{
	Name:   "init",
	Usage:  "initialize the namespaces and launch the process (do not call it outside of ocirun)",
	Hidden: true,
	Action: func(c *cli.Context) error {
		return errors.New("init is started by ocirun itself, not by hand")
	},
}
