package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"
)

// AppArmorEnabled reports whether the host runs AppArmor.
func AppArmorEnabled() bool {
	data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(data), "Y")
}

// applyAppArmor asks the kernel to confine the next exec with profile. The
// write goes through a private procfs handle of this very thread
// (CVE-2025-52881): the container's /proc cannot redirect it.
func applyAppArmor(profile string) error {
	if profile == "" {
		return nil
	}
	if !AppArmorEnabled() {
		return errors.New("process.apparmorProfile: AppArmor is not enabled on this host")
	}
	proc, err := procfs.OpenProcRoot()
	if err != nil {
		return fmt.Errorf("apparmor: open procfs: %w", err)
	}
	defer proc.Close()
	handle, closer, err := proc.OpenThreadSelf("attr/apparmor/exec")
	if err != nil {
		handle, closer, err = proc.OpenThreadSelf("attr/exec")
	}
	if err != nil {
		return fmt.Errorf("apparmor: %w", err)
	}
	defer closer()
	defer handle.Close()
	f, err := pathrs.Reopen(handle, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("apparmor: %w", err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("exec " + profile)); err != nil {
		return fmt.Errorf("apparmor profile %q: %w", profile, err)
	}
	return nil
}
