package libcontainer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

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

// writeSysctls writes linux.sysctl through the container's own /proc/sys.
func writeSysctls(sysctl map[string]string) error {
	for k, v := range sysctl {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
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
