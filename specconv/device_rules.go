package specconv

import "github.com/ocirun/ocirun/libcontainer/configs"

// deviceRules completes linux.resources.devices the way runc does: the
// devices every container gets (the defaults and linux.devices, the pty
// devices, and mknod of any node) are allowed. They go right after the last
// "deny everything" rule, so the config's own later rules still win over
// them (a config can deny /dev/null); without any rule the list starts with
// "deny everything": default deny.
func deviceRules(rules []configs.DeviceRule, devices []*configs.Device) []configs.DeviceRule {
	var allow []configs.DeviceRule
	for _, d := range devices {
		t := d.Type
		if t == 'u' {
			t = 'c'
		}
		if t == 'p' {
			continue // fifos are not device-controlled
		}
		allow = append(allow, configs.DeviceRule{Allow: true, Type: t, Major: d.Major, Minor: d.Minor, Access: "rwm"})
	}
	allow = append(allow,
		configs.DeviceRule{Allow: true, Type: 'c', Major: 5, Minor: 1, Access: "rwm"},    // /dev/console
		configs.DeviceRule{Allow: true, Type: 'c', Major: 5, Minor: 2, Access: "rwm"},    // /dev/ptmx
		configs.DeviceRule{Allow: true, Type: 'c', Major: 136, Minor: -1, Access: "rwm"}, // /dev/pts/*
		configs.DeviceRule{Allow: true, Type: 'c', Major: -1, Minor: -1, Access: "m"},
		configs.DeviceRule{Allow: true, Type: 'b', Major: -1, Minor: -1, Access: "m"},
	)
	last := -1
	for i, r := range rules {
		if r.Type == 'a' && !r.Allow && r.Access == "rwm" {
			last = i
		}
	}
	if last < 0 {
		out := []configs.DeviceRule{{Allow: false, Type: 'a', Major: -1, Minor: -1, Access: "rwm"}}
		return append(append(out, allow...), rules...)
	}
	out := append([]configs.DeviceRule{}, rules[:last+1]...)
	out = append(out, allow...)
	return append(out, rules[last+1:]...)
}
