package main

import (
	"strconv"

	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/ocirun/ocirun/libcontainer"
	"github.com/ocirun/ocirun/libcontainer/criu"
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
			// Only when --criu names a CRIU that passes `criu check` on this kernel.
			"org.opencontainers.runc.checkpoint.enabled": strconv.FormatBool(criu.Check(criuPath(c)) == nil),
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
