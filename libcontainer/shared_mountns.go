package libcontainer

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// A container without a mount namespace of its own makes its mounts in the
// runtime's (prepareRootfs): a bind of the rootfs onto itself with every
// mount of the config under it. Deleting the container detaches that bind,
// undoing what create did (runtime-spec runtime.md, Lifecycle step 12).

// maxStackedMounts bounds how many mounts delete detaches from the rootfs.
const maxStackedMounts = 8

// mountID is the id of the mount that holds path (statx STATX_MNT_ID).
func mountID(path string) (uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_MNT_ID, &st); err != nil {
		return 0, fmt.Errorf("root.path %s: %w", path, err)
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, fmt.Errorf("root.path %s: the kernel reports no mount id", path)
	}
	return st.Mnt_id, nil
}

// releaseSharedRootfs detaches the mounts create stacked on the rootfs until
// the mount found there before create is on top again.
func (c *Container) releaseSharedRootfs() error {
	before := c.state.RootfsMountID
	if before == 0 || c.state.Rootfs == "" {
		return nil
	}
	rootfs := c.state.Rootfs
	for range maxStackedMounts {
		now, err := mountID(rootfs)
		if errors.Is(err, unix.ENOENT) {
			return nil // a mount point cannot be removed: nothing of ours is left there
		}
		if err != nil {
			return err
		}
		if now == before {
			return nil
		}
		if err := unix.Unmount(rootfs, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("detach the container's mounts on %s: %w", rootfs, err)
		}
	}
	return fmt.Errorf("detach the container's mounts on %s: more than %d mounts stacked on it", rootfs, maxStackedMounts)
}
