package libcontainer

// A goroutine starts on a 2 KiB stack, and Go doubles it whenever a call
// needs more, copying it each time: the copy walks every frame on it and
// reads each function's tables in the binary to move its pointers. Deep in
// a call chain (decoding JSON, say) that reads pages of the binary nothing
// else in a short-lived ocirun process needs, each a page fault. Growing the
// stack at the start of a goroutine that will need it copies one frame.

// GrowStack makes the calling goroutine's stack at least kib KiB (4, 8 or
// 16) in one copy, if it is smaller.
func GrowStack(kib int) {
	switch {
	case kib <= 4:
		growStackTo4K()
	case kib <= 8:
		growStackTo8K()
	default:
		growStackTo16K()
	}
}

// Implemented in assembly: a frame of that size and nothing else, so that
// Go's stack check at the call grows the stack once (the frame plus what
// is in use, rounded up to a power of two) and no page of it is touched.
// Go code cannot declare a frame it does not use: the compiler drops it.

func growStackTo4K()
func growStackTo8K()
func growStackTo16K()
