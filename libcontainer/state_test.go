package libcontainer

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/jsonlite"
	"github.com/ocirun/ocirun/libcontainer/jsonlite/jsonlitetest"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadState(dir); !errors.Is(err, ErrNotExist) {
		t.Fatalf("empty dir: %v, want ErrNotExist", err)
	}
	want := &State{ID: "x", InitPid: 42, InitStartTime: 7, Bundle: "/b", Created: time.Unix(1, 0).UTC()}
	cfg := &configs.Config{OCIVersion: "1.2.0", Rootfs: "/r", Process: &configs.Process{Args: []string{"sh"}},
		Annotations: map[string]string{"a": "b"}, Hooks: configs.Hooks{Poststop: []configs.Hook{{Path: "/bin/true"}}}}
	if err := want.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if err := saveState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(dir)
	if err != nil || got.InitPid != 42 || !got.Created.Equal(want.Created) {
		t.Fatalf("got %+v, %v", got, err)
	}
	// The summary is there without decoding the config; the config decodes whole.
	if got.config != nil || got.Rootfs != "/r" || got.OCIVersion != "1.2.0" || got.Annotations["a"] != "b" || len(got.Hooks.Poststop) != 1 {
		t.Fatalf("summary %+v", got)
	}
	if c, err := got.Config(); err != nil || c.Rootfs != "/r" || c.Process.Args[0] != "sh" {
		t.Fatalf("config %+v, %v", c, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != stateFile {
		t.Fatalf("a temp file was left: %v", entries)
	}
	os.WriteFile(filepath.Join(dir, stateFile), []byte("{"), 0o600)
	if _, err := loadState(dir); err == nil {
		t.Fatal("a corrupt state file loaded")
	}
	// A state saved before the summary existed gets it from its config.
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"id":"x","init_pid":1,"config":{"oci_version":"1.0.2","rootfs":"/old"}}`), 0o600)
	if old, err := loadState(dir); err != nil || old.Rootfs != "/old" || old.OCIVersion != "1.0.2" {
		t.Fatalf("old state: %+v, %v", old, err)
	}
}

// A save that cannot rename leaves the old state.json alone and no temp file.
func TestSaveStateFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	// state.json a directory that is not empty: rename(2) refuses.
	if err := os.MkdirAll(filepath.Join(dir, stateFile, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := saveState(dir, &State{ID: "x"}); err == nil {
		t.Fatal("saved over a directory")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != stateFile {
		t.Fatalf("left %v", entries)
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "abc-DEF_1.2+3", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		if err := ValidateID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", "../x", "a b", "x\n"} {
		if ValidateID(id) == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

func TestStatusOfDeadInit(t *testing.T) {
	dir := t.TempDir()
	c := &Container{id: "x", dir: dir, state: &State{InitPid: os.Getpid(), InitStartTime: 1}}
	// Our own pid with another start time: a reused pid, not the init.
	if s := c.Status(); s != Stopped {
		t.Fatalf("status %s for a reused pid, want stopped", s)
	}
	st, _ := readProcStat(os.Getpid())
	c.state.InitStartTime = st.StartTime
	if s := c.Status(); s != Running {
		t.Fatalf("status %s for a live init without exec socket, want running", s)
	}
}

// A restore that died leaves the rootfs bound inside the state directory:
// removing the state must detach it, not empty the rootfs through it.
func TestRemoveStateDirKeepsBoundRootfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to bind mount")
	}
	rootfs, state := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(rootfs, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, stateFile), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := bindCriuRoot(state, rootfs); err != nil {
		t.Fatal(err)
	}
	if err := removeStateDir(state); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "precious")); err != nil {
		t.Fatalf("the rootfs lost its files: %v", err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("state directory still there: %v", err)
	}
}

// state.json is written with jsonlite: every field of the state, at random,
// must decode as encoding/json's encoding of it does (the config inside it
// too: its bytes differ, encoding/json escapes <, > and & in them). Marshal
// must not fall
// back to encoding/json for the state or the config (the fallback hides a
// type jsonlite stopped covering: a slower create, not a wrong one).
func TestStateMarshalLikeEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		var cfg configs.Config
		jsonlitetest.Fill(r, reflect.ValueOf(&cfg).Elem())
		var s State
		jsonlitetest.Fill(r, reflect.ValueOf(&s).Elem())
		if err := s.SetConfig(&cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := jsonlite.Marshal(&cfg); err != nil {
			t.Fatalf("the config takes encoding/json's way: %v", err)
		}
		ours, err := jsonlite.Marshal(&s)
		if err != nil {
			t.Fatalf("the state takes encoding/json's way: %v", err)
		}
		theirs, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		var a, b State
		if err := json.Unmarshal(ours, &a); err != nil {
			t.Fatalf("decode %s: %v", ours, err)
		}
		if err := json.Unmarshal(theirs, &b); err != nil {
			t.Fatal(err)
		}
		ac, aerr := a.Config()
		bc, berr := b.Config()
		if aerr != nil || berr != nil || !reflect.DeepEqual(ac, bc) {
			t.Fatalf("configs differ (%v, %v)\nours:   %s\ntheirs: %s", aerr, berr, a.RawConfig, b.RawConfig)
		}
		a.RawConfig, a.config, b.RawConfig, b.config = nil, nil, nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("ours:   %s\ntheirs: %s", ours, theirs)
		}
	}
}
