package cgroups

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A Manager reaches its cgroup files from the directory that holds every
// hierarchy's mountpoint (/sys/fs/cgroup on the usual host), opened once.
// A path walk from / goes through sysfs ("sys", "fs", "cgroup"), and a
// lookup there waits (the kernfs lock of sysfs) while another container's
// new network namespace adds its entries to sysfs: with a hundred creates
// at once, those waits were half the kernel sleeps of a create
// (docs/PERFORMANCE.md, ninth round). Error texts keep the full paths.

// mountRoot is that directory, opened at the Manager's first file access.
type mountRoot struct {
	once sync.Once
	dir  string // with a trailing slash; "" to walk from / as before
	fd   int
}

// at is where to reach path from: the mount root and the rest of the path
// below it, or the current directory and path itself (a path elsewhere, or
// no mount root).
func (m *Manager) at(path string) (int, string) {
	r := m.root
	r.once.Do(func() { r.open(m.layout) })
	if rest, ok := strings.CutPrefix(path, r.dir); ok && r.dir != "" && rest != "" {
		return r.fd, rest
	}
	return unix.AT_FDCWD, path
}

// Close lets go of the mount root's fd, once no access is in flight; a
// later access walks from / (cheap to call on a Manager that never opened it).
func (m *Manager) Close() {
	r := m.root
	r.once.Do(func() {}) // never opened: it will not be now
	if r.dir != "" {
		unix.Close(r.fd)
		r.dir, r.fd = "", -1
	}
}

func (r *mountRoot) open(l *Layout) {
	dir := mountsParent(l)
	if dir == "" || dir == "/" {
		return
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return // every access walks from / instead
	}
	r.dir, r.fd = dir+"/", fd
}

// mountsParent is the deepest directory above every mountpoint of the
// layout; for a unified hierarchy alone, its mountpoint.
func mountsParent(l *Layout) string {
	var dirs []string
	for _, mp := range l.V1 {
		dirs = append(dirs, filepath.Dir(mp))
	}
	if l.V2 != "" {
		if len(l.V1) == 0 {
			return l.V2
		}
		dirs = append(dirs, filepath.Dir(l.V2))
	}
	if len(dirs) == 0 {
		return ""
	}
	common := dirs[0]
	for _, d := range dirs[1:] {
		for common != "/" && d != common && !strings.HasPrefix(d, common+"/") {
			common = filepath.Dir(common)
		}
	}
	return common
}

// readFile reads a cgroup file.
func (m *Manager) readFile(path string) ([]byte, error) {
	f, err := m.openFile(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// openFile opens a cgroup file or directory; errors name the path as os.Open does.
func (m *Manager) openFile(path string, flags int) (*os.File, error) {
	dirfd, rel := m.at(path)
	fd, err := unix.Openat(dirfd, rel, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// mkdir makes one cgroup directory; errors name the path as os.Mkdir does.
func (m *Manager) mkdir(path string) error {
	dirfd, rel := m.at(path)
	if err := unix.Mkdirat(dirfd, rel, 0o755); err != nil {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return nil
}

// writeFile writes one cgroup file, naming it in the error (cgroupfs has
// no file to create: a missing one is a file this kernel does not have).
func (m *Manager) writeFile(dir, file, value string) error {
	p := filepath.Join(dir, file)
	f, err := m.openFile(p, unix.O_WRONLY|unix.O_TRUNC)
	if err == nil {
		_, err = f.Write([]byte(value))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		// cgroupfs refuses to create a file it does not have with EACCES: say what it means.
		if _, serr := os.Stat(p); errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("write %q to %s: this kernel has no such cgroup file", value, p)
		}
		return fmt.Errorf("write %q to %s: %w", value, p, unwrap(err))
	}
	return nil
}
