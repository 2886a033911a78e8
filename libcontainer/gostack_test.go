package libcontainer

import (
	"testing"
	"unsafe"
)

// useStack takes about depth*300 bytes of stack.
//
//go:noinline
func useStack(depth int) byte {
	var frame [256]byte
	frame[depth%256] = byte(depth)
	if depth > 0 {
		return useStack(depth-1) + frame[(depth+1)%256]
	}
	return frame[0]
}

// stackMoved reports whether the calling goroutine's stack was copied
// elsewhere while it used depth frames: a local's address then changes.
//
//go:noinline
func stackMoved(depth int) bool {
	var local byte
	before := uintptr(unsafe.Pointer(&local))
	useStack(depth)
	return uintptr(unsafe.Pointer(&local)) != before
}

func TestGrowStack(t *testing.T) {
	for _, c := range []struct {
		kib   int
		depth int // frames that fit in kib KiB with room to spare, and not in half of it
	}{{4, 5}, {8, 17}, {16, 40}} {
		moved := func(grow bool) bool {
			res := make(chan bool)
			go func() {
				if grow {
					GrowStack(c.kib)
				}
				res <- stackMoved(c.depth)
			}()
			return <-res
		}
		if !moved(false) {
			t.Errorf("%d KiB: a new goroutine's stack did not move using %d frames: the test shows nothing", c.kib, c.depth)
		}
		if moved(true) {
			t.Errorf("GrowStack(%d): the stack still moved using %d frames", c.kib, c.depth)
		}
	}
}
