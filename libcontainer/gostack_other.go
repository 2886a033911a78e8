//go:build !amd64 && !arm64

package libcontainer

// Elsewhere the stack grows as Go grows it (gostack.go).
func growStackTo4K()  {}
func growStackTo8K()  {}
func growStackTo16K() {}
