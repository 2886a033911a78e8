// Package devices enforces device cgroup rules on cgroup v2, where there is
// no devices controller: a BPF_PROG_TYPE_CGROUP_DEVICE program built from
// the rules decides each open and mknod.
package devices

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// Values of struct bpf_cgroup_dev_ctx's access_type (linux/bpf.h).
const (
	devBlock = 1
	devChar  = 2

	accMknod = 1
	accRead  = 2
	accWrite = 4
)

func accessMask(access string) int32 {
	var m int32
	for _, c := range access {
		switch c {
		case 'm':
			m |= accMknod
		case 'r':
			m |= accRead
		case 'w':
			m |= accWrite
		}
	}
	return m
}

// emulate replays the rules as the v1 devices controller would and returns
// its end state: the default (allow or deny everything) and the exceptions
// to it. A v1 rule for "a" resets the default and drops every exception; a
// rule in the default's own direction removes access from the exception of
// exactly that device; a rule against it adds to that exception. So
// "deny a; allow c *:* m; deny c 1:3 rwm" still allows mknod of 1:3, as v1 does.
func emulate(rules []configs.DeviceRule) (bool, []configs.DeviceRule) {
	defaultAllow := true
	var exc []configs.DeviceRule
	for _, r := range rules {
		if r.Type == 'a' {
			defaultAllow, exc = r.Allow, nil
			continue
		}
		i := -1
		for j, e := range exc {
			if e.Type == r.Type && e.Major == r.Major && e.Minor == r.Minor {
				i = j
			}
		}
		if r.Allow == defaultAllow {
			// Takes access away from the exception.
			if i >= 0 {
				exc[i].Access = strings.Map(func(c rune) rune {
					if strings.ContainsRune(r.Access, c) {
						return -1
					}
					return c
				}, exc[i].Access)
				if exc[i].Access == "" {
					exc = append(exc[:i], exc[i+1:]...)
				}
			}
			continue
		}
		if i < 0 {
			exc = append(exc, configs.DeviceRule{Allow: r.Allow, Type: r.Type, Major: r.Major, Minor: r.Minor})
			i = len(exc) - 1
		}
		for _, c := range r.Access {
			if !strings.ContainsRune(exc[i].Access, c) {
				exc[i].Access += string(c)
			}
		}
	}
	return defaultAllow, exc
}

// Program compiles the rules, with v1's semantics (see emulate): a request
// is decided by the default unless an exception matches it: on a
// default-deny list an exception allows the access it grants in full; on a
// default-allow list an exception denies any of the access it names.
func Program(rules []configs.DeviceRule) asm.Instructions {
	defaultAllow, exc := emulate(rules)
	verdict := func(allow bool) int32 {
		if allow {
			return 1
		}
		return 0
	}
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // access_type
		asm.Mov.Reg32(asm.R3, asm.R2),
		asm.And.Imm32(asm.R3, 0xffff), // device type
		asm.Mov.Reg32(asm.R4, asm.R2),
		asm.RSh.Imm32(asm.R4, 16),                // requested access
		asm.LoadMem(asm.R5, asm.R1, 4, asm.Word), // major
		asm.LoadMem(asm.R6, asm.R1, 8, asm.Word), // minor
	}
	for i, r := range exc {
		next := fmt.Sprintf("exc%d", i+1)
		var block asm.Instructions
		switch r.Type {
		case 'c':
			block = append(block, asm.JNE.Imm(asm.R3, devChar, next))
		case 'b':
			block = append(block, asm.JNE.Imm(asm.R3, devBlock, next))
		}
		if r.Major >= 0 {
			block = append(block, asm.JNE.Imm(asm.R5, int32(r.Major), next))
		}
		if r.Minor >= 0 {
			block = append(block, asm.JNE.Imm(asm.R6, int32(r.Minor), next))
		}
		mask := accessMask(r.Access)
		block = append(block, asm.Mov.Reg32(asm.R7, asm.R4))
		if !defaultAllow {
			block = append(block, asm.And.Imm32(asm.R7, ^mask&7), asm.JNE.Imm(asm.R7, 0, next))
		} else {
			block = append(block, asm.And.Imm32(asm.R7, mask), asm.JEq.Imm(asm.R7, 0, next))
		}
		block = append(block, asm.Mov.Imm(asm.R0, verdict(!defaultAllow)), asm.Return())
		block[0] = block[0].WithSymbol(fmt.Sprintf("exc%d", i))
		insns = append(insns, block...)
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, verdict(defaultAllow)).WithSymbol(fmt.Sprintf("exc%d", len(exc))), asm.Return())
	return insns
}

// Attach loads the program and attaches it to the cgroup directory, then
// detaches any program that was there before (so `update` replaces rules
// without a window where none apply).
func Attach(dir string, rules []configs.DeviceRule) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.CGroupDevice, License: "Apache-2.0", Instructions: Program(rules),
	})
	if err != nil {
		return fmt.Errorf("load device filter: %w", err)
	}
	defer prog.Close()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	old, _ := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: fd, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	if old == nil {
		return nil
	}
	var errs []error
	for _, p := range old.Programs {
		op, err := ebpf.NewProgramFromID(p.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = link.RawDetachProgram(link.RawDetachProgramOptions{Target: fd, Program: op, Attach: ebpf.AttachCGroupDevice})
		op.Close()
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("detach the previous device filter: %w", errors.Join(errs...))
	}
	return nil
}
