package nsenter

import (
	"debug/elf"
	"os"
	"testing"
)

// Static must say what the binary's program headers say: no PT_INTERP.
func TestStaticMatchesProgramHeaders(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	interp := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp = true
		}
	}
	if Static() == interp {
		t.Fatalf("Static() = %v, but the binary has an interpreter: %v", Static(), interp)
	}
}
