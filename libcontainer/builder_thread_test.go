package libcontainer

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// envOffMainThread makes this package's test binary run offMainThreadCheck
// instead of its tests: the check needs the main goroutine on the main
// thread, which only a fresh process guarantees.
const envOffMainThread = "OCIRUN_TEST_OFF_MAIN_THREAD"

func TestMain(m *testing.M) {
	if os.Getenv(envOffMainThread) == "1" {
		os.Exit(offMainThreadCheck())
	}
	os.Exit(m.Run())
}

// offMainThreadCheck starts a locked goroutine the way create starts its
// builder, from the main thread with one processor, so that Go runs the new
// goroutine on the main thread as soon as the main goroutine waits: the
// goroutine must still end up on a thread of its own.
func offMainThreadCheck() int {
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	if unix.Gettid() != unix.Getpid() {
		fmt.Println("skip: the main goroutine is not on the main thread")
		return 0
	}
	runtime.UnlockOSThread()
	tids := make(chan int)
	goLockedOffMainThread(func() { tids <- unix.Gettid() })
	if tid := <-tids; tid == unix.Getpid() {
		fmt.Println("FAIL: the locked goroutine ran on the main thread")
		return 1
	}
	fmt.Println("ok")
	return 0
}

func TestGoLockedOffMainThread(t *testing.T) {
	for i := 0; i < 5; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envOffMainThread+"=1")
		out, err := cmd.CombinedOutput()
		if msg := strings.TrimSpace(string(out)); err == nil && strings.HasPrefix(msg, "skip:") {
			t.Skip(msg)
		} else if err != nil || msg != "ok" {
			t.Fatalf("run %d: %v: %s", i, err, out)
		}
	}
}
