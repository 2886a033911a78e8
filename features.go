package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/ocirun/ocirun/libcontainer"
	"github.com/ocirun/ocirun/specconv"
)

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "show the enabled features",
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 0); err != nil {
			return err
		}
		ann := map[string]string{
			"org.opencontainers.runc.checkpoint.enabled": "false", // no checkpoint/restore yet
			"io.github.ocirun.version":                   version,
		}
		if commit != "" {
			ann["io.github.ocirun.commit"] = commit
		}
		f := specconv.Features(specconv.HostInfo{AppArmor: libcontainer.AppArmorEnabled(), Annotations: ann})
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(f)
	},
}
