package devices

import (
	"encoding/binary"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// insn is one eBPF instruction as the kernel reads it (struct bpf_insn).
// The filter is a dozen instructions of five kinds, so they are written here
// directly rather than through a BPF library, whose package initialisation
// every ocirun command would pay (docs/DESIGN.md, Dependencies).
type insn struct {
	code uint8
	regs uint8 // the destination and source registers, a nibble each (see ins)
	off  int16
	imm  int32
}

// Opcodes (linux/bpf_common.h, linux/bpf.h) and the registers the filter uses.
const (
	opLoadWord  = 0x61 // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
	opMov32Reg  = 0xbc // BPF_ALU | BPF_MOV | BPF_X: dst = (u32)src
	opAnd32Imm  = 0x54 // BPF_ALU | BPF_AND | BPF_K: dst &= imm
	opRsh32Imm  = 0x74 // BPF_ALU | BPF_RSH | BPF_K: dst >>= imm
	opMov64Imm  = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
	opJumpNeImm = 0x55 // BPF_JMP | BPF_JNE | BPF_K: if dst != imm, skip off
	opJumpEqImm = 0x15 // BPF_JMP | BPF_JEQ | BPF_K: if dst == imm, skip off
	opExit      = 0x95 // BPF_JMP | BPF_EXIT: return r0

	r0, r1, r2, r3, r4, r5, r6, r7 = 0, 1, 2, 3, 4, 5, 6, 7
)

// ins makes an instruction. struct bpf_insn's register bitfields
// (dst_reg:4, src_reg:4) fill a byte from its low bits on little-endian
// machines and from its high bits on big-endian ones.
func ins(code, dst, src uint8, off int16, imm int32) insn {
	regs := dst | src<<4
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
		regs = dst<<4 | src
	}
	return insn{code: code, regs: regs, off: off, imm: imm}
}

// Program compiles the rules, with v1's semantics (see emulate): a request
// is decided by the default unless an exception matches it: on a
// default-deny list an exception allows the access it grants in full; on a
// default-allow list an exception denies any of the access it names. Each
// exception is one block; a test that does not match jumps to the next.
func Program(rules []configs.DeviceRule) []insn {
	defaultAllow, exc := emulate(rules)
	verdict := func(allow bool) int32 {
		if allow {
			return 1
		}
		return 0
	}
	// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
	prog := []insn{
		ins(opLoadWord, r2, r1, 0, 0), // access_type
		ins(opMov32Reg, r3, r2, 0, 0),
		ins(opAnd32Imm, r3, 0, 0, 0xffff), // device type
		ins(opMov32Reg, r4, r2, 0, 0),
		ins(opRsh32Imm, r4, 0, 0, 16), // requested access
		ins(opLoadWord, r5, r1, 4, 0), // major
		ins(opLoadWord, r6, r1, 8, 0), // minor
	}
	for _, r := range exc {
		var block []insn
		switch r.Type {
		case 'c':
			block = append(block, ins(opJumpNeImm, r3, 0, 0, devChar))
		case 'b':
			block = append(block, ins(opJumpNeImm, r3, 0, 0, devBlock))
		}
		if r.Major >= 0 {
			block = append(block, ins(opJumpNeImm, r5, 0, 0, int32(r.Major)))
		}
		if r.Minor >= 0 {
			block = append(block, ins(opJumpNeImm, r6, 0, 0, int32(r.Minor)))
		}
		mask := accessMask(r.Access)
		block = append(block, ins(opMov32Reg, r7, r4, 0, 0))
		if !defaultAllow {
			block = append(block, ins(opAnd32Imm, r7, 0, 0, ^mask&7), ins(opJumpNeImm, r7, 0, 0, 0))
		} else {
			block = append(block, ins(opAnd32Imm, r7, 0, 0, mask), ins(opJumpEqImm, r7, 0, 0, 0))
		}
		block = append(block, ins(opMov64Imm, r0, 0, 0, verdict(!defaultAllow)), ins(opExit, 0, 0, 0, 0))
		// Every jump of the block goes to the instruction after it: the
		// offset counts the instructions between.
		for i := range block {
			if block[i].code == opJumpNeImm || block[i].code == opJumpEqImm {
				block[i].off = int16(len(block) - i - 1)
			}
		}
		prog = append(prog, block...)
	}
	return append(prog, ins(opMov64Imm, r0, 0, 0, verdict(defaultAllow)), ins(opExit, 0, 0, 0, 0))
}
