package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/cgroups"
	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/jsonlite"
)

// Status is a container's lifecycle state, as the runtime-spec names it.
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// File names inside a container's state directory.
const (
	stateFile    = "state.json"
	execSockFile = "exec.sock" // the created init waits on it; it exists while the container is "created"
)

// State is what stays on disk between ocirun commands for one container.
type State struct {
	ID            string    `json:"id"`
	InitPid       int       `json:"init_pid"`
	InitStartTime uint64    `json:"init_start_time"` // /proc/PID/stat field 22: tells a reused pid apart
	Bundle        string    `json:"bundle"`
	Created       time.Time `json:"created"`
	Owner         string    `json:"owner"`
	// RawConfig is the container's config as saved; Config decodes it on
	// first use. Most commands (state, start, kill, delete) need only the
	// summary fields below, and decoding the whole config type is most of
	// what such a command costs after the Go runtime's start.
	RawConfig jsonlite.Encoded `json:"config"`
	config    *configs.Config
	// What state, start and delete need of the config.
	OCIVersion  string            `json:"oci_version,omitempty"`
	Rootfs      string            `json:"rootfs,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	NoProcess   bool              `json:"no_process,omitempty"`
	Hooks       configs.Hooks     `json:"hooks,omitzero"`
	// Creating is true from the init's start until it reports ready.
	Creating bool `json:"creating,omitempty"`
	// CgroupPath is the container's cgroup, the same path in every hierarchy.
	CgroupPath string `json:"cgroup_path,omitempty"`
	// CgroupLayout is where the hierarchies were mounted at create.
	CgroupLayout *cgroups.Layout `json:"cgroup_layout,omitempty"`
	// RootfsMountID is, for a container without a mount namespace of its
	// own, the mount that held the rootfs before create stacked its own on it.
	RootfsMountID uint64 `json:"rootfs_mount_id,omitempty"`
}

// OCIState is the runtime-spec state, extended as runc prints it.
type OCIState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      Status            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs,omitempty"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// SetConfig makes cfg the container's config: it is encoded now (a save
// then only copies it) and summarised for the commands that do not decode it.
func (s *State) SetConfig(cfg *configs.Config) error {
	raw, err := marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	s.RawConfig, s.config = raw, cfg
	s.summarise()
	return nil
}

func (s *State) summarise() {
	cfg := s.config
	s.OCIVersion, s.Rootfs, s.Annotations, s.NoProcess, s.Hooks = cfg.OCIVersion, cfg.Rootfs, cfg.Annotations, cfg.NoProcess, cfg.Hooks
}

// Config returns the container's whole config, decoding it on first use.
func (s *State) Config() (*configs.Config, error) {
	if s.config != nil {
		return s.config, nil
	}
	var cfg configs.Config
	if err := json.Unmarshal(s.RawConfig, &cfg); err != nil {
		return nil, fmt.Errorf("decode the container's config: %w", err)
	}
	s.config = &cfg
	return s.config, nil
}

// marshal encodes the config and the state for state.json with jsonlite
// (encoding/json's set-up per type was most of create's JSON work), or with
// encoding/json for a type jsonlite does not cover.
func marshal(v any) ([]byte, error) {
	if data, err := jsonlite.Marshal(v); err == nil {
		return data, nil
	}
	return json.Marshal(v)
}

// saveState writes state.json atomically: a temp file renamed over the old
// one (rename(2) itself: os.Rename first stats the target; and the temp
// file is removed only when it was not renamed).
func saveState(dir string, s *State) error {
	data, err := marshal(s)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	if err := unix.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return nil
}

// ErrNotExist is returned for a container id with no state.
var ErrNotExist = errors.New("does not exist")

func loadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, ErrNotExist
		}
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read state %s: %w", filepath.Join(dir, stateFile), err)
	}
	if s.OCIVersion == "" {
		// Saved by an ocirun without the summary: make it from the config.
		if _, err := s.Config(); err != nil {
			return nil, fmt.Errorf("read state %s: %w", filepath.Join(dir, stateFile), err)
		}
		s.summarise()
	}
	return &s, nil
}
