package specconv

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// ConvertResources checks linux.resources and converts it (also used by `update --resources`).
func ConvertResources(r *specs.LinuxResources) (*configs.Resources, error) {
	if r == nil {
		return nil, nil
	}
	out := &configs.Resources{Unified: r.Unified}
	if m := r.Memory; m != nil {
		out.Memory = &configs.Memory{Limit: m.Limit, Reservation: m.Reservation, Swap: m.Swap, Kernel: m.Kernel, //nolint:staticcheck // kernel memory: warned about, not applied
			KernelTCP: m.KernelTCP, Swappiness: m.Swappiness, DisableOOMKiller: m.DisableOOMKiller, CheckBeforeUpdate: m.CheckBeforeUpdate}
		if m.Swappiness != nil && *m.Swappiness > 100 {
			return nil, fmt.Errorf("linux.resources.memory.swappiness %d: must be 0 to 100", *m.Swappiness)
		}
		if m.Limit != nil && m.Swap != nil && *m.Swap > 0 && *m.Limit > 0 && *m.Swap < *m.Limit {
			return nil, fmt.Errorf("linux.resources.memory.swap %d: must not be below memory.limit %d (it counts memory and swap)", *m.Swap, *m.Limit)
		}
	}
	if c := r.CPU; c != nil {
		out.CPU = &configs.CPU{Shares: c.Shares, Quota: c.Quota, Burst: c.Burst, Period: c.Period,
			RealtimeRuntime: c.RealtimeRuntime, RealtimePeriod: c.RealtimePeriod, Cpus: c.Cpus, Mems: c.Mems, Idle: c.Idle}
	}
	if r.Pids != nil {
		out.PidsLimit = r.Pids.Limit
	}
	if b := r.BlockIO; b != nil {
		bio := &configs.BlockIO{Weight: b.Weight, LeafWeight: b.LeafWeight}
		for _, d := range b.WeightDevice {
			bio.WeightDevice = append(bio.WeightDevice, configs.WeightDevice{Major: d.Major, Minor: d.Minor, Weight: d.Weight, LeafWeight: d.LeafWeight})
		}
		conv := func(in []specs.LinuxThrottleDevice) []configs.ThrottleDevice {
			var o []configs.ThrottleDevice
			for _, d := range in {
				o = append(o, configs.ThrottleDevice{Major: d.Major, Minor: d.Minor, Rate: d.Rate})
			}
			return o
		}
		bio.ThrottleReadBpsDevice = conv(b.ThrottleReadBpsDevice)
		bio.ThrottleWriteBpsDevice = conv(b.ThrottleWriteBpsDevice)
		bio.ThrottleReadIOPSDevice = conv(b.ThrottleReadIOPSDevice)
		bio.ThrottleWriteIOPSDevice = conv(b.ThrottleWriteIOPSDevice)
		out.BlockIO = bio
	}
	for i, h := range r.HugepageLimits {
		if !strings.HasSuffix(h.Pagesize, "B") {
			return nil, fmt.Errorf("linux.resources.hugepageLimits[%d].pageSize %q: like \"2MB\" or \"1GB\"", i, h.Pagesize)
		}
		out.HugepageLimits = append(out.HugepageLimits, configs.HugepageLimit{PageSize: h.Pagesize, Limit: h.Limit})
	}
	if len(r.Rdma) > 0 {
		out.Rdma = map[string]configs.Rdma{}
		for dev, l := range r.Rdma {
			out.Rdma[dev] = configs.Rdma{HcaHandles: l.HcaHandles, HcaObjects: l.HcaObjects}
		}
	}
	for i, d := range r.Devices {
		rule, err := convertDeviceRule(d)
		if err != nil {
			return nil, fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		out.Devices = append(out.Devices, rule)
	}
	if n := r.Network; n != nil {
		out.NetClassID = n.ClassID
		for _, p := range n.Priorities {
			out.NetPriorities = append(out.NetPriorities, configs.NetPriority{Name: p.Name, Priority: p.Priority})
		}
	}
	for k := range r.Unified {
		if strings.Contains(k, "/") || strings.HasPrefix(k, ".") || !strings.Contains(k, ".") {
			return nil, fmt.Errorf("linux.resources.unified %q: not a cgroup file name", k)
		}
		if strings.HasPrefix(k, "cgroup.") && k != "cgroup.freeze" && k != "cgroup.max.depth" && k != "cgroup.max.descendants" {
			return nil, fmt.Errorf("linux.resources.unified %q: cgroup core files are the runtime's", k)
		}
	}
	return out, nil
}

func convertDeviceRule(d specs.LinuxDeviceCgroup) (configs.DeviceRule, error) {
	rule := configs.DeviceRule{Allow: d.Allow, Type: 'a', Major: -1, Minor: -1, Access: d.Access}
	switch d.Type {
	case "", "a":
	case "c", "b":
		rule.Type = rune(d.Type[0])
	default:
		return rule, fmt.Errorf("type %q: must be a, c or b", d.Type)
	}
	if d.Major != nil {
		rule.Major = *d.Major
	}
	if d.Minor != nil {
		rule.Minor = *d.Minor
	}
	if rule.Access == "" {
		rule.Access = "rwm"
	}
	for _, c := range rule.Access {
		if !strings.ContainsRune("rwm", c) {
			return rule, fmt.Errorf("access %q: only r, w and m", d.Access)
		}
	}
	return rule, nil
}
