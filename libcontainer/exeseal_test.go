package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
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
	sealed := map[string]*os.File{"overlay": overlay.File}
	// overlayfs takes a detached mount as a layer from Linux 6.15 on.
	if onTmpfs, err := overlayExeOnTmpfs(exe); err == nil {
		defer onTmpfs.Close()
		sealed["overlay on tmpfs"] = onTmpfs.File
	} else if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("overlay on tmpfs: %v", err)
	} else {
		t.Logf("overlay on tmpfs: %v (a kernel before 6.15)", err)
	}
	memfd, err := memfdExe()
	if err != nil {
		t.Fatalf("memfd: %v", err)
	}
	defer memfd.Close()
	sealed["memfd"] = memfd
	for name, f := range sealed {
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
