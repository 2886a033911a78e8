package libcontainer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRemoveStale: `delete` removes a state directory without state only
// when no create is making it. A create holds the root's lock shared from
// its mkdir until it holds the directory's (newStateDir); the test plays
// that create with the same locks.
func TestRemoveStale(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, root string) (release func())
		removed bool
		errText string
	}{
		{"missing", func(*testing.T, string) func() { return func() {} }, true, ""},
		{"a dead create's", func(t *testing.T, root string) func() {
			mkdirT(t, filepath.Join(root, "x"))
			return func() {}
		}, true, ""},
		{"a create holding its lock", func(t *testing.T, root string) func() {
			mkdirT(t, filepath.Join(root, "x"))
			lock := flockT(t, filepath.Join(root, "x"), unix.LOCK_EX)
			return func() { lock.Close() }
		}, false, "being created"},
		{"a create between its mkdir and its lock", func(t *testing.T, root string) func() {
			rootLock := flockT(t, root, unix.LOCK_SH)
			mkdirT(t, filepath.Join(root, "x"))
			// The create takes its lock a moment later, then lets the root go.
			locked := make(chan *os.File, 1)
			go func() {
				time.Sleep(100 * time.Millisecond)
				locked <- flockT(t, filepath.Join(root, "x"), unix.LOCK_EX)
				rootLock.Close()
			}()
			return func() {
				if lock := <-locked; lock != nil {
					lock.Close()
				}
			}
		}, false, "being created"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			release := c.setup(t, root)
			err := RemoveStale(root, "x")
			release()
			_, statErr := os.Stat(filepath.Join(root, "x"))
			if removed := os.IsNotExist(statErr); removed != c.removed {
				t.Errorf("removed: %v, want %v (err %v)", removed, c.removed, err)
			}
			if c.errText == "" && err != nil || c.errText != "" && (err == nil || !strings.Contains(err.Error(), c.errText)) {
				t.Errorf("err %v, want one with %q", err, c.errText)
			}
		})
	}
}

func mkdirT(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
}

func flockT(t *testing.T, dir string, how int) *os.File {
	f, err := flockDir(dir, how)
	if err != nil {
		t.Error(err)
	}
	return f
}
