// Package devices enforces device cgroup rules on cgroup v2, where there is
// no devices controller: a BPF_PROG_TYPE_CGROUP_DEVICE program built from
// the rules decides each open and mknod.
package devices

import (
	"strings"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// Values of struct bpf_cgroup_dev_ctx's access_type (linux/bpf.h).
const (
	devBlock = 1
	devChar  = 2

	accMknod = 1
	accRead  = 2
	accWrite = 4
)

func accessMask(access string) int32 {
	var m int32
	for _, c := range access {
		switch c {
		case 'm':
			m |= accMknod
		case 'r':
			m |= accRead
		case 'w':
			m |= accWrite
		}
	}
	return m
}

// emulate replays the rules as the v1 devices controller would and returns
// its end state: the default (allow or deny everything) and the exceptions
// to it. A v1 rule for "a" resets the default and drops every exception; a
// rule in the default's own direction removes access from the exception of
// exactly that device; a rule against it adds to that exception. So
// "deny a; allow c *:* m; deny c 1:3 rwm" still allows mknod of 1:3, as v1 does.
func emulate(rules []configs.DeviceRule) (bool, []configs.DeviceRule) {
	defaultAllow := true
	var exc []configs.DeviceRule
	for _, r := range rules {
		if r.Type == 'a' {
			defaultAllow, exc = r.Allow, nil
			continue
		}
		i := -1
		for j, e := range exc {
			if e.Type == r.Type && e.Major == r.Major && e.Minor == r.Minor {
				i = j
			}
		}
		if r.Allow == defaultAllow {
			// Takes access away from the exception.
			if i >= 0 {
				exc[i].Access = strings.Map(func(c rune) rune {
					if strings.ContainsRune(r.Access, c) {
						return -1
					}
					return c
				}, exc[i].Access)
				if exc[i].Access == "" {
					exc = append(exc[:i], exc[i+1:]...)
				}
			}
			continue
		}
		if i < 0 {
			exc = append(exc, configs.DeviceRule{Allow: r.Allow, Type: r.Type, Major: r.Major, Minor: r.Minor})
			i = len(exc) - 1
		}
		for _, c := range r.Access {
			if !strings.ContainsRune(exc[i].Access, c) {
				exc[i].Access += string(c)
			}
		}
	}
	return defaultAllow, exc
}
