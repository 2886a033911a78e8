package specconv

import "github.com/ocirun/ocirun/libcontainer/configs"

// deviceRules completes linux.resources.devices as runc does: the devices
// every container gets (the defaults and linux.devices, the pty devices,
// mknod of any node) are allowed after the config's own rules, which keep
// their order. A device the config denies by its exact number is not
// allowed back (a config can deny /dev/null). Without any rule the list
// starts with "deny everything": default deny.
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
	out := append([]configs.DeviceRule{}, rules...)
	if len(out) == 0 {
		out = append(out, configs.DeviceRule{Allow: false, Type: 'a', Major: -1, Minor: -1, Access: "rwm"})
	}
	for _, a := range allow {
		denied := false
		for _, r := range rules {
			denied = denied || (!r.Allow && r.Type == a.Type && r.Major == a.Major && r.Minor == a.Minor)
		}
		if !denied {
			out = append(out, a)
		}
	}
	return out
}
