package configs

// Resources is linux.resources, checked, in the units the kernel files take.
type Resources struct {
	Memory         *Memory           `json:"memory,omitempty"`
	CPU            *CPU              `json:"cpu,omitempty"`
	PidsLimit      *int64            `json:"pids_limit,omitempty"`
	BlockIO        *BlockIO          `json:"block_io,omitempty"`
	HugepageLimits []HugepageLimit   `json:"hugepage_limits,omitempty"`
	Rdma           map[string]Rdma   `json:"rdma,omitempty"`
	Unified        map[string]string `json:"unified,omitempty"`
	Devices        []DeviceRule      `json:"devices,omitempty"`
	NetClassID     *uint32           `json:"net_class_id,omitempty"`
	NetPriorities  []NetPriority     `json:"net_priorities,omitempty"`
}

// Memory limits in bytes; -1 means unlimited.
type Memory struct {
	Limit             *int64  `json:"limit,omitempty"`
	Reservation       *int64  `json:"reservation,omitempty"`
	Swap              *int64  `json:"swap,omitempty"` // memory+swap, as runtime-spec and v1 count it
	Kernel            *int64  `json:"kernel,omitempty"`
	KernelTCP         *int64  `json:"kernel_tcp,omitempty"`
	Swappiness        *uint64 `json:"swappiness,omitempty"`
	DisableOOMKiller  *bool   `json:"disable_oom_killer,omitempty"`
	CheckBeforeUpdate *bool   `json:"check_before_update,omitempty"`
}

// CPU is linux.resources.cpu.
type CPU struct {
	Shares          *uint64 `json:"shares,omitempty"`
	Quota           *int64  `json:"quota,omitempty"`
	Burst           *uint64 `json:"burst,omitempty"`
	Period          *uint64 `json:"period,omitempty"`
	RealtimeRuntime *int64  `json:"realtime_runtime,omitempty"`
	RealtimePeriod  *uint64 `json:"realtime_period,omitempty"`
	Cpus            string  `json:"cpus,omitempty"`
	Mems            string  `json:"mems,omitempty"`
	Idle            *int64  `json:"idle,omitempty"`
}

// BlockIO is linux.resources.blockIO.
type BlockIO struct {
	Weight                  *uint16          `json:"weight,omitempty"`
	LeafWeight              *uint16          `json:"leaf_weight,omitempty"`
	WeightDevice            []WeightDevice   `json:"weight_device,omitempty"`
	ThrottleReadBpsDevice   []ThrottleDevice `json:"throttle_read_bps,omitempty"`
	ThrottleWriteBpsDevice  []ThrottleDevice `json:"throttle_write_bps,omitempty"`
	ThrottleReadIOPSDevice  []ThrottleDevice `json:"throttle_read_iops,omitempty"`
	ThrottleWriteIOPSDevice []ThrottleDevice `json:"throttle_write_iops,omitempty"`
}

// WeightDevice is a per-device weight.
type WeightDevice struct {
	Major, Minor int64
	Weight       *uint16
	LeafWeight   *uint16
}

// ThrottleDevice is a per-device rate.
type ThrottleDevice struct {
	Major, Minor int64
	Rate         uint64
}

// HugepageLimit is a limit for one page size ("2MB", "1GB").
type HugepageLimit struct {
	PageSize string `json:"page_size"`
	Limit    uint64 `json:"limit"`
}

// Rdma limits one device's handles and objects.
type Rdma struct {
	HcaHandles *uint32 `json:"hca_handles,omitempty"`
	HcaObjects *uint32 `json:"hca_objects,omitempty"`
}

// DeviceRule is one device cgroup rule; Type 'a' matches every device.
type DeviceRule struct {
	Allow  bool   `json:"allow"`
	Type   rune   `json:"type"`
	Major  int64  `json:"major"` // -1: any
	Minor  int64  `json:"minor"` // -1: any
	Access string `json:"access"`
}

// NetPriority is one interface's priority (net_prio).
type NetPriority struct {
	Name     string `json:"name"`
	Priority uint32 `json:"priority"`
}
