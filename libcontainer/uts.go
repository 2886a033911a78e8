package libcontainer

import (
	"fmt"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// setupUTS sets hostname and domainname inside the container's UTS namespace.
func setupUTS(cfg *configs.Config) error {
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", cfg.Hostname, err)
		}
	}
	if cfg.Domainname != "" {
		if err := unix.Setdomainname([]byte(cfg.Domainname)); err != nil {
			return fmt.Errorf("set domainname %q: %w", cfg.Domainname, err)
		}
	}
	return nil
}

// writeSysctls writes linux.sysctl through a private procfs handle
// (CVE-2025-52881): the container's /proc could be a bind of something
// else, or have a file mounted over a sysctl, to redirect the write.
func writeSysctls(sysctl map[string]string) error {
	if len(sysctl) == 0 {
		return nil
	}
	proc, err := procfs.OpenProcRoot()
	if err != nil {
		return fmt.Errorf("open procfs: %w", err)
	}
	defer proc.Close()
	for k, v := range sysctl {
		if err := writeSysctl(proc, k, v); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}

func writeSysctl(proc *procfs.Handle, key, value string) error {
	if strings.Contains(key, "/") || strings.Contains(key, "..") {
		return fmt.Errorf("invalid sysctl name")
	}
	handle, err := proc.OpenRoot(filepath.Join("sys", strings.ReplaceAll(key, ".", "/")))
	if err != nil {
		return err
	}
	defer handle.Close()
	f, err := pathrs.Reopen(handle, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte(value))
	return err
}

// joinSessionKeyring gives the container a session keyring of its own, so it
// cannot see or use the keys of whoever ran ocirun.
func joinSessionKeyring(id string) error {
	if _, err := unix.KeyctlJoinSessionKeyring("_ses." + id); err != nil {
		if err == unix.ENOSYS || err == unix.EPERM || err == unix.EDQUOT {
			return nil // no keyring support, or not allowed in this user namespace
		}
		return fmt.Errorf("join session keyring: %w", err)
	}
	return nil
}
