// Package capabilities maps capability names to numbers and applies a
// process's capability sets in the order the kernel requires.
package capabilities

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// Sets are capability numbers per set.
type Sets struct {
	Bounding, Effective, Inheritable, Permitted, Ambient []int
}

// FromName maps "CAP_SYS_ADMIN" to its number; unknown names are an error.
func FromName(name string) (int, error) {
	n := strings.ToLower(strings.TrimPrefix(strings.ToUpper(name), "CAP_"))
	for _, c := range capability.ListKnown() {
		if c.String() == n {
			return int(c), nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

// Known lists every capability name this build knows, as "CAP_X", sorted.
func Known() []string {
	var names []string
	for _, c := range capability.ListKnown() {
		names = append(names, "CAP_"+strings.ToUpper(c.String()))
	}
	sort.Strings(names)
	return names
}

func toCaps(nums []int) []capability.Cap {
	out := make([]capability.Cap, len(nums))
	for i, n := range nums {
		out[i] = capability.Cap(n)
	}
	return out
}

// DropBounding limits the bounding set to keep. It needs CAP_SETPCAP, so it
// comes before the switch to the process's user.
func DropBounding(keep []int) error {
	for _, k := range keep {
		// A capability we do not hold ourselves cannot be given: say which.
		if in, err := capability.GetBound(capability.Cap(k)); err == nil && !in {
			return fmt.Errorf("process.capabilities: CAP_%s is not in ocirun's own bounding set on this host",
				strings.ToUpper(capability.Cap(k).String()))
		}
	}
	// Not loaded first (a parse of /proc/self/status): the set is cleared and
	// written whole, and Apply(BOUNDS) reads nothing else of it.
	c, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	c.Clear(capability.BOUNDING)
	c.Set(capability.BOUNDING, toCaps(keep)...)
	if err := c.Apply(capability.BOUNDS); err != nil {
		return fmt.Errorf("drop bounding capabilities: %w", err)
	}
	return nil
}

// Apply sets effective, permitted, inheritable and then ambient on this thread.
func Apply(s Sets) error {
	// Not loaded first: every set applied here is cleared and written whole.
	c, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	c.Clear(capability.CAPS | capability.AMBIENT)
	c.Set(capability.EFFECTIVE, toCaps(s.Effective)...)
	c.Set(capability.PERMITTED, toCaps(s.Permitted)...)
	c.Set(capability.INHERITABLE, toCaps(s.Inheritable)...)
	c.Set(capability.AMBIENT, toCaps(s.Ambient)...)
	if err := c.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	if err := c.Apply(capability.AMBS); err != nil {
		return fmt.Errorf("set ambient capabilities: %w", err)
	}
	return nil
}

// RaiseEffective makes this thread's effective set its permitted set: a
// switch from uid 0 to another clears the effective set even when
// PR_SET_KEEPCAPS kept the permitted one.
func RaiseEffective() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Effective, data[1].Effective = data[0].Permitted, data[1].Permitted
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("raise the kept capabilities: %w", err)
	}
	return nil
}

// InBounding reports whether ocirun's own bounding set holds capability n,
// that is whether ocirun can give it to a process.
func InBounding(n int) bool {
	in, err := capability.GetBound(capability.Cap(n))
	return err == nil && in
}

// Name is "CAP_X" for capability n.
func Name(n int) string {
	return "CAP_" + strings.ToUpper(capability.Cap(n).String())
}

// Grantable lists, as "CAP_X", the capabilities ocirun can give a process:
// those the kernel has and that are in ocirun's own bounding set (a host
// may have dropped some, as this one has CAP_SYS_RESOURCE).
func Grantable() ([]string, error) {
	caps, err := capability.ListSupported()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range caps {
		if in, err := capability.GetBound(c); err == nil && in {
			names = append(names, "CAP_"+strings.ToUpper(c.String()))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Last is the highest capability number the running kernel knows.
func Last() (int, error) {
	c, err := capability.LastCap()
	if err != nil {
		return 0, fmt.Errorf("highest capability: %w", err)
	}
	return int(c), nil
}
