#include "textflag.h"

// Frames a little under half the target, so that with up to ~1 KiB already
// in use the stack grows to the target size and no more (gostack.go).

TEXT ·growStackTo4K(SB), 0, $2048-0
	RET

TEXT ·growStackTo8K(SB), 0, $5120-0
	RET

TEXT ·growStackTo16K(SB), 0, $11264-0
	RET
