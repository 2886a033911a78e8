package criu

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Check runs `criu check`: CRIU's own test that it can checkpoint and
// restore on this kernel (Debian 12's criu 3.17 fails it on 6.13+ kernels).
func Check(path string) error {
	out, err := exec.Command(path, "check").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s check: %s", path, lastLines(out, 1))
	}
	return nil
}

// MemTrack reports whether the kernel tracks dirty memory (soft-dirty bits),
// which pre-dumps need.
func MemTrack(path string) (bool, error) {
	s := &Swrk{Path: path}
	if _, err := s.Start(); err != nil {
		return false, err
	}
	defer s.Close()
	resp, err := s.Call(ReqFeatureCheck, nil, &Features{MemTrack: new(true)}, nil)
	if err != nil {
		return false, err
	}
	return resp.Features != nil && resp.Features.MemTrack != nil && *resp.Features.MemTrack, nil
}

// LogErrors returns the last n error lines of a CRIU log file (all its
// last lines when none says "Error"), for a message the user can act on.
func LogErrors(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var errs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// CRIU always fails to raise its own RLIMIT_NOFILE where the bounding
		// set lacks CAP_SYS_RESOURCE, and goes on: not the error to report.
		if l := sc.Text(); strings.Contains(l, "Error") && !strings.Contains(l, "RLIMIT_NOFILE") {
			errs = append(errs, stripTimestamp(strings.TrimSpace(l)))
		}
	}
	if len(errs) == 0 {
		return lastLines(data, n)
	}
	if len(errs) > n {
		errs = errs[len(errs)-n:]
	}
	return strings.Join(errs, "; ")
}

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// stripTimestamp drops the "(00.123456) " that starts CRIU's log lines.
func stripTimestamp(l string) string {
	if strings.HasPrefix(l, "(") {
		if i := strings.Index(l, ") "); i > 0 {
			return l[i+2:]
		}
	}
	return l
}
