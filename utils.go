package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/ocirun/ocirun/libcontainer"
	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/specconv"
)

// rootDir is --root made absolute.
func rootDir(c *cli.Context) (string, error) {
	root, err := filepath.Abs(c.String("root"))
	if err != nil {
		return "", fmt.Errorf("--root: %w", err)
	}
	return root, nil
}

// containerID returns the one required ID argument.
func containerID(c *cli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", errors.New("container id cannot be empty")
	}
	return c.Args().First(), nil
}

// checkArgs refuses a wrong number of arguments with runc's words.
func checkArgs(c *cli.Context, n int) error {
	if c.NArg() != n {
		return fmt.Errorf("%q requires exactly %d argument(s)", c.Command.Name, n)
	}
	return nil
}

// loadBundle reads --bundle's config.json (default: the current directory) and converts it.
func loadBundle(c *cli.Context) (string, *configs.Config, error) {
	bundle := c.String("bundle")
	if bundle == "" {
		bundle = "."
	}
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return "", nil, fmt.Errorf("--bundle: %w", err)
	}
	spec, err := specconv.LoadSpec(bundle)
	if err != nil {
		return "", nil, err
	}
	cfg, err := specconv.Convert(spec, bundle)
	if err != nil {
		return "", nil, err
	}
	return bundle, cfg, nil
}

// loadContainer opens an existing container under its lock.
func loadContainer(c *cli.Context) (*libcontainer.Container, error) {
	id, err := containerID(c)
	if err != nil {
		return nil, err
	}
	root, err := rootDir(c)
	if err != nil {
		return nil, err
	}
	return libcontainer.Load(root, id)
}

// writePidFile writes the pid atomically (temp file, rename) and without a newline, as runc does.
func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// onContainer runs fn on the one container the arguments name, under its lock.
func onContainer(c *cli.Context, fn func(*libcontainer.Container) error) error {
	if err := checkArgs(c, 1); err != nil {
		return err
	}
	ctr, err := loadContainer(c)
	if err != nil {
		return err
	}
	defer ctr.Close()
	return fn(ctr)
}
