package devices

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// The leading fields of union bpf_attr (linux/bpf.h) for the four commands
// used here; the kernel takes a shorter attr and zeroes the rest.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte
}

type progAttachAttr struct {
	targetFd    uint32
	attachBpfFd uint32
	attachType  uint32
	attachFlags uint32
}

type progQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIds     uint64
	progCnt     uint32
	_           uint32
}

type getFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

// bpf is the bpf(2) system call.
func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// load hands the program to the kernel's verifier; on a refusal the error
// carries the verifier's log.
func load(prog []insn) (int, error) {
	license := []byte("Apache-2.0\x00")
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "ocirun_devices")
	// The attr holds the buffers' addresses as integers: keep them alive.
	defer runtime.KeepAlive(prog)
	defer runtime.KeepAlive(license)
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil || !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EINVAL) {
		return fd, err
	}
	log := make([]byte, 64<<10)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
	defer runtime.KeepAlive(log)
	if _, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err2 != nil {
		if n := indexZero(log); n > 0 {
			return -1, fmt.Errorf("%w: verifier: %s", err, log[:n])
		}
	}
	return -1, err
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// attachedPrograms returns the ids of the device programs on the cgroup.
func attachedPrograms(cgroupFd int) ([]uint32, error) {
	ids := make([]uint32, 64)
	attr := progQueryAttr{targetFd: uint32(cgroupFd), attachType: unix.BPF_CGROUP_DEVICE,
		progIds: uint64(uintptr(unsafe.Pointer(&ids[0]))), progCnt: uint32(len(ids))}
	_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(ids)
	if err != nil {
		return nil, err
	}
	return ids[:attr.progCnt], nil
}

// detach removes the program with this id from the cgroup.
func detach(cgroupFd int, id uint32) error {
	get := getFdByIDAttr{id: id}
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
	if err != nil {
		return fmt.Errorf("program %d: %w", id, err)
	}
	defer unix.Close(fd)
	attr := progAttachAttr{targetFd: uint32(cgroupFd), attachBpfFd: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE}
	if _, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return fmt.Errorf("program %d: %w", id, err)
	}
	return nil
}

// Attach loads the program and attaches it to the cgroup directory, then
// detaches any program that was there before (so `update` replaces rules
// without a window where none apply).
func Attach(dir string, rules []configs.DeviceRule) error {
	prog, err := load(Program(rules))
	if err != nil {
		return fmt.Errorf("load device filter: %w", err)
	}
	defer unix.Close(prog)
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	old, _ := attachedPrograms(fd)
	attr := progAttachAttr{targetFd: uint32(fd), attachBpfFd: uint32(prog), attachType: unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	var errs []error
	for _, id := range old {
		errs = append(errs, detach(fd, id))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach the previous device filter: %w", err)
	}
	return nil
}
