package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// parseSignal takes a signal as runc does: a number, "KILL" or "SIGKILL", any case.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("unknown signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// relayAllSignals starts catching every signal into sigc in the background
// and returns a function that waits until all are caught. signal.Notify of
// every signal takes one round trip with the runtime's signal-mask thread per
// signal (1-2 ms in all here), so it runs while the command reads its
// config; the caller waits before the container's process exists, so no
// signal meant for it is lost or kills us. The signals stay caught until
// the command exits (no signal.Stop: as long again, for nothing).
func relayAllSignals(sigc chan os.Signal) (wait func()) {
	done := make(chan struct{})
	go func() {
		signal.Notify(sigc)
		close(done)
	}()
	return func() { <-done }
}
