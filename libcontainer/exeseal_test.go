package libcontainer

import (
	"fmt"
	"os"
	"testing"
)

// Every way of sealing our binary must refuse a write through the handle.
func TestSealedExeRefusesWrites(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlayfs needs root")
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := overlayExe(exe, t.TempDir()+"/empty")
	if err != nil {
		t.Fatalf("overlay: %v", err)
	}
	defer overlay.Close()
	onTmpfs, err := overlayExeOnTmpfs(exe)
	if err != nil {
		t.Fatalf("overlay on tmpfs: %v", err)
	}
	defer onTmpfs.Close()
	memfd, err := memfdExe()
	if err != nil {
		t.Fatalf("memfd: %v", err)
	}
	defer memfd.Close()
	for name, f := range map[string]*os.File{"overlay": overlay, "overlay on tmpfs": onTmpfs, "memfd": memfd} {
		path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			_, werr := w.Write([]byte("PWNED"))
			w.Close()
			if werr == nil {
				t.Errorf("%s: wrote to our sealed binary", name)
			}
		}
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("%s: the sealed binary is not readable: %v", name, err)
		}
	}
}

func TestEscapeLowerdir(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin":      "/usr/bin",
		"/a:b":          `/a\:b`,
		`/a\b`:          `/a\\b`,
		`/x:\:y`:        `/x\:\\\:y`,
		"/":             "/",
		"/proc/self/fd": "/proc/self/fd",
	} {
		if got := escapeLowerdir(in); got != want {
			t.Errorf("escapeLowerdir(%q) = %q, want %q", in, got, want)
		}
	}
}
