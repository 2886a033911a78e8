package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want unix.Signal
		bad  bool
	}{
		{"KILL", unix.SIGKILL, false},
		{"SIGKILL", unix.SIGKILL, false},
		{"kill", unix.SIGKILL, false},
		{"9", unix.SIGKILL, false},
		{"15", unix.SIGTERM, false},
		{"SIGRTMIN", 0, true}, // not a name SignalNum knows; runc refuses it too
		{"0", 0, true},
		{"65", 0, true},
		{"NOPE", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSignal(tt.in)
		if tt.bad != (err != nil) || got != tt.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v (error: %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
