package specconv

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// flagOption is a mount option that sets or clears an MS_* flag.
type flagOption struct {
	clear bool
	flag  int
}

// mountFlags is every mount(8) flag option ocirun understands.
var mountFlags = map[string]flagOption{
	"acl":           {false, unix.MS_POSIXACL},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noacl":         {true, unix.MS_POSIXACL},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

// propagationFlags are the options that change a mount's propagation.
var propagationFlags = map[string]int{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// recAttr is a recursive mount attribute option (mount_setattr with AT_RECURSIVE).
type recAttr struct {
	clear bool
	attr  uint64
}

var recursiveAttrs = map[string]recAttr{
	"rro":          {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":          {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":      {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":        {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":       {false, unix.MOUNT_ATTR_NODEV},
	"rdev":         {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":      {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":        {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":  {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":    {true, unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":   {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// MountOptions lists every option name ocirun understands (for `features`).
func MountOptions() []string {
	var out []string
	for k := range mountFlags {
		out = append(out, k)
	}
	for k := range propagationFlags {
		out = append(out, k)
	}
	for k := range recursiveAttrs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// convertMount parses one spec mount. Options that are not flags are passed
// to the filesystem as data, as mount(8) does.
func convertMount(i int, m specs.Mount, bundle string) (*configs.Mount, error) {
	field := fmt.Sprintf("mounts[%d]", i)
	if !filepath.IsAbs(m.Destination) {
		return nil, fmt.Errorf("%s.destination %q must be an absolute path", field, m.Destination)
	}
	out := &configs.Mount{Source: m.Source, Destination: filepath.Clean(m.Destination), Type: m.Type}
	var data []string
	for _, o := range m.Options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				out.Flags &^= f.flag
				out.ClearFlags |= f.flag
			} else {
				out.Flags |= f.flag
			}
		} else if p, ok := propagationFlags[o]; ok {
			out.Propagation = append(out.Propagation, p)
		} else if a, ok := recursiveAttrs[o]; ok {
			if a.clear {
				out.RecAttrClr |= a.attr
			} else {
				out.RecAttrSet |= a.attr
			}
		} else if o == "idmap" || o == "ridmap" {
			return nil, fmt.Errorf("%s: option %q is not supported yet", field, o)
		} else {
			data = append(data, o)
		}
	}
	out.Data = strings.Join(data, ",")
	if m.Type == "bind" {
		out.Flags |= unix.MS_BIND
	}
	if out.IsBind() {
		if out.Source == "" {
			return nil, fmt.Errorf("%s: a bind mount needs a source", field)
		}
		if !filepath.IsAbs(out.Source) {
			out.Source = filepath.Join(bundle, out.Source)
		}
		if _, err := os.Stat(out.Source); err != nil {
			return nil, fmt.Errorf("%s.source %q: %w", field, m.Source, unwrapPathErr(err))
		}
		out.Type = ""
	} else if out.Type == "" {
		return nil, fmt.Errorf("%s: type is required unless the mount is a bind mount", field)
	}
	return out, nil
}

// unwrapPathErr drops the path os.PathError repeats, since our message names it already.
func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
