// Package configs holds the typed, validated description of a container that
// the engine runs on. specconv builds it from a runtime-spec config.json;
// nothing below libcontainer knows the spec's types.
package configs

import "os"

// Config is everything the runtime needs to make one container.
type Config struct {
	OCIVersion  string            `json:"oci_version"`
	Rootfs      string            `json:"rootfs"` // absolute host path
	Readonlyfs  bool              `json:"readonlyfs,omitempty"`
	Propagation int               `json:"propagation,omitempty"` // MS_* flags for "/" before the mounts
	Mounts      []*Mount          `json:"mounts,omitempty"`
	Devices     []*Device         `json:"devices,omitempty"`
	MaskPaths   []string          `json:"mask_paths,omitempty"`
	RoPaths     []string          `json:"readonly_paths,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Sysctl      map[string]string `json:"sysctl,omitempty"`
	Namespaces  []Namespace       `json:"namespaces,omitempty"`
	UIDMappings []IDMap           `json:"uid_mappings,omitempty"`
	GIDMappings []IDMap           `json:"gid_mappings,omitempty"`
	// TimeOffsets is the text written to /proc/self/timens_offsets.
	TimeOffsets string            `json:"time_offsets,omitempty"`
	Hooks       Hooks             `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Process     *Process          `json:"process"`
	// NoProcess is true for a config without process: create works, start
	// fails (runtime-spec: process is required only when start is called).
	NoProcess   bool         `json:"no_process,omitempty"`
	Personality *Personality `json:"personality,omitempty"`
	// CgroupsPath is linux.cgroupsPath as given; the cgroup manager resolves it.
	CgroupsPath string `json:"cgroups_path,omitempty"`
	// Resources are the cgroup limits; nil for none.
	Resources *Resources `json:"resources,omitempty"`
	// Seccomp is the filter loaded just before the process runs; nil for none.
	Seccomp *Seccomp `json:"seccomp,omitempty"`
}

// Namespace is one namespace to create (Path empty) or join (Path set).
type Namespace struct {
	Type string `json:"type"` // runtime-spec names: pid, network, mount, ipc, uts, user, cgroup, time
	Path string `json:"path,omitempty"`
}

// Has reports whether the config asks for a namespace of type t, new or joined.
func (c *Config) Has(t string) bool {
	for _, ns := range c.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// NamespacePath returns the path of the joined namespace t, or "" when t is new or absent.
func (c *Config) NamespacePath(t string) string {
	for _, ns := range c.Namespaces {
		if ns.Type == t {
			return ns.Path
		}
	}
	return ""
}

// IDMap is one line of /proc/PID/{uid,gid}_map.
type IDMap struct {
	ContainerID uint32 `json:"container_id"`
	HostID      uint32 `json:"host_id"`
	Size        uint32 `json:"size"`
}

// Mount is one entry of the spec's mounts, with its options already parsed.
type Mount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Type        string `json:"type"`
	Flags       int    `json:"flags"`       // MS_* flags for mount(2)
	ClearFlags  int    `json:"clear_flags"` // flags the options turn off (for bind remounts)
	Propagation []int  `json:"propagation,omitempty"`
	Data        string `json:"data,omitempty"`
	// RecAttrSet/RecAttrClr are MOUNT_ATTR_* applied recursively with mount_setattr (rro, rnosuid...).
	RecAttrSet uint64 `json:"rec_attr_set,omitempty"`
	RecAttrClr uint64 `json:"rec_attr_clr,omitempty"`
}

// IsBind reports whether the mount is a bind mount.
func (m *Mount) IsBind() bool { return m.Flags&msBind != 0 }

const msBind = 0x1000 // unix.MS_BIND, kept here so configs stays free of syscall imports

// Device is a device node to create in the container's /dev.
type Device struct {
	Path     string      `json:"path"`
	Type     rune        `json:"type"` // 'c', 'b' or 'p'
	Major    int64       `json:"major"`
	Minor    int64       `json:"minor"`
	FileMode os.FileMode `json:"file_mode"`
	UID      uint32      `json:"uid"`
	GID      uint32      `json:"gid"`
}

// Hook is one hook command.
type Hook struct {
	Path    string   `json:"path"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	Timeout *int     `json:"timeout,omitempty"` // seconds
}

// Hooks holds the six kinds of hooks by their runtime-spec names.
type Hooks struct {
	Prestart        []Hook `json:"prestart,omitempty"`
	CreateRuntime   []Hook `json:"createRuntime,omitempty"`
	CreateContainer []Hook `json:"createContainer,omitempty"`
	StartContainer  []Hook `json:"startContainer,omitempty"`
	Poststart       []Hook `json:"poststart,omitempty"`
	Poststop        []Hook `json:"poststop,omitempty"`
}

// Process is the container's first process.
type Process struct {
	Args            []string      `json:"args"`
	Env             []string      `json:"env,omitempty"`
	Cwd             string        `json:"cwd"`
	UID             uint32        `json:"uid"`
	GID             uint32        `json:"gid"`
	AdditionalGids  []uint32      `json:"additional_gids,omitempty"`
	Umask           *uint32       `json:"umask,omitempty"`
	Terminal        bool          `json:"terminal,omitempty"`
	ConsoleHeight   uint16        `json:"console_height,omitempty"`
	ConsoleWidth    uint16        `json:"console_width,omitempty"`
	Rlimits         []Rlimit      `json:"rlimits,omitempty"`
	Capabilities    *Capabilities `json:"capabilities,omitempty"`
	NoNewPrivileges bool          `json:"no_new_privileges,omitempty"`
	OOMScoreAdj     *int          `json:"oom_score_adj,omitempty"`
	Scheduler       *Scheduler    `json:"scheduler,omitempty"`
	IOPriority      *IOPriority   `json:"io_priority,omitempty"`
	ApparmorProfile string        `json:"apparmor_profile,omitempty"`
}

// Rlimit is one resource limit; Type is the RLIMIT_* number.
type Rlimit struct {
	Type int    `json:"type"`
	Hard uint64 `json:"hard"`
	Soft uint64 `json:"soft"`
}

// Capabilities are capability numbers per set (validated names, already mapped).
type Capabilities struct {
	Bounding    []int `json:"bounding,omitempty"`
	Effective   []int `json:"effective,omitempty"`
	Inheritable []int `json:"inheritable,omitempty"`
	Permitted   []int `json:"permitted,omitempty"`
	Ambient     []int `json:"ambient,omitempty"`
}

// Scheduler is the sched_setattr(2) attribute set of process.scheduler.
type Scheduler struct {
	Policy   uint32 `json:"policy"`
	Nice     int32  `json:"nice"`
	Priority uint32 `json:"priority"`
	Flags    uint64 `json:"flags"`
	Runtime  uint64 `json:"runtime"`
	Deadline uint64 `json:"deadline"`
	Period   uint64 `json:"period"`
}

// IOPriority is process.ioPriority: class (IOPRIO_CLASS_*) and level.
type IOPriority struct {
	Class    int `json:"class"`
	Priority int `json:"priority"`
}

// Personality is linux.personality: the persona number and flags.
type Personality struct {
	Domain uint64 `json:"domain"`
}

// Seccomp is linux.seccomp with names checked: actions, operators and
// architectures are libseccomp's names, flags the SECCOMP_FILTER_FLAG_* names.
type Seccomp struct {
	DefaultAction    string           `json:"default_action"`
	DefaultErrnoRet  *uint            `json:"default_errno_ret,omitempty"`
	Architectures    []string         `json:"architectures,omitempty"`
	Flags            []string         `json:"flags,omitempty"`
	ListenerPath     string           `json:"listener_path,omitempty"`
	ListenerMetadata string           `json:"listener_metadata,omitempty"`
	Syscalls         []SeccompSyscall `json:"syscalls,omitempty"`
}

// SeccompSyscall is one rule: an action for some syscalls, maybe with argument conditions.
type SeccompSyscall struct {
	Names    []string     `json:"names"`
	Action   string       `json:"action"`
	ErrnoRet *uint        `json:"errno_ret,omitempty"`
	Args     []SeccompArg `json:"args,omitempty"`
}

// SeccompArg is one argument condition.
type SeccompArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"value_two,omitempty"`
	Op       string `json:"op"`
}
