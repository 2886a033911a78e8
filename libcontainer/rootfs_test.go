package libcontainer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mkdirInRoot makes directories inside the root whichever way it takes
// (one openat2, mkdirLast's single mkdirat, pathrs-lite's walk): symlinks
// resolve inside the root, never out of it, and the handle returned is the
// directory made.
func TestMkdirInRoot(t *testing.T) {
	tests := []struct {
		name  string
		setup func(root, outside string) error
		path  string
		want  string // the directory the handle must be, under the root; "" for an error
	}{
		{"exists", func(root, _ string) error { return os.Mkdir(root+"/dev", 0o755) }, "/dev", "dev"},
		{"last missing", func(root, _ string) error { return os.Mkdir(root+"/dev", 0o755) }, "/dev/pts", "dev/pts"},
		{"relative last missing", nil, "cpu", "cpu"},
		{"trailing slash", func(root, _ string) error { return os.Mkdir(root+"/dev", 0o755) }, "/dev/shm/", "dev/shm"},
		{"parents missing", nil, "/a/b/c", "a/b/c"},
		{"parent an absolute symlink", func(root, outside string) error {
			if err := os.Mkdir(root+"/real", 0o755); err != nil {
				return err
			}
			return os.Symlink("/real", root+"/link")
		}, "/link/new", "real/new"},
		{"parent a symlink out of the root", func(root, outside string) error {
			return os.Symlink(outside, root+"/escape")
		}, "/escape/new", ""}, // pathrs-lite refuses a dangling symlink
		{"parent a symlink to a path outside that is inside", func(root, outside string) error {
			if err := os.MkdirAll(root+outside, 0o755); err != nil {
				return err
			}
			return os.Symlink(outside, root+"/escape")
		}, "/escape/new", "$OUT/new"},
		{"last a dangling symlink out of the root", func(root, outside string) error {
			return os.Symlink(outside+"/made", root+"/evil")
		}, "/evil", ""},
		{"dot-dot", func(root, _ string) error { return os.Mkdir(root+"/a", 0o755) }, "/a/../../b", "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, outside := t.TempDir(), t.TempDir()
			if tt.setup != nil {
				if err := tt.setup(root, outside); err != nil {
					t.Fatal(err)
				}
			}
			rootf, err := os.Open(root)
			if err != nil {
				t.Fatal(err)
			}
			defer rootf.Close()
			f, err := mkdirInRoot(rootf, tt.path, 0o755)
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("made %v outside the root", entries)
			}
			if tt.want == "" {
				if err == nil {
					f.Close()
					t.Fatalf("mkdirInRoot(%q) made %s", tt.path, procFdPath(f))
				}
				return
			}
			if err != nil {
				t.Fatalf("mkdirInRoot(%q): %v", tt.path, err)
			}
			defer f.Close()
			// A symlink out of the root resolves as if the root were "/":
			// outside's path then names a directory inside the root.
			want := filepath.Join(root, strings.ReplaceAll(tt.want, "$OUT", outside))
			got, err := os.Readlink(procFdPath(f))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("handle is %s, want %s", got, want)
			}
			if st, err := os.Stat(want); err != nil || !st.IsDir() || st.Mode().Perm() != 0o755 {
				t.Errorf("%s: want a directory 0755: %v %v", want, st, err)
			}
		})
	}
}
