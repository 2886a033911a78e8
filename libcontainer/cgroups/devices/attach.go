package devices

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// The leading fields of union bpf_attr (linux/bpf.h) for the four commands
// used here; the kernel takes a shorter attr and zeroes the rest. Addresses
// are unsafe.Pointer, not integers, so the garbage collector keeps (and, for
// a stack that grows, moves) what they point to; the kernel's __aligned_u64
// is a pointer's size on the 64-bit machines ocirun builds for.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       unsafe.Pointer
	license     unsafe.Pointer
	logLevel    uint32
	logSize     uint32
	logBuf      unsafe.Pointer
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

// progQueryAttr runs through `revision`, which newer kernels write back
// whatever size they were given.
type progQueryAttr struct {
	targetFd        uint32
	attachType      uint32
	queryFlags      uint32
	attachFlags     uint32
	progIds         unsafe.Pointer
	progCnt         uint32
	_               uint32
	progAttachFlags uint64
	linkIds         uint64
	linkAttachFlags uint64
	revision        uint64
}

type getFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

// The attrs above assume 8-byte pointers: a 32-bit build fails here.
var _ [unsafe.Sizeof(uintptr(0)) - 8]struct{}

// bpf is the bpf(2) system call.
func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// loadRetries bounds the retries of a verifier interrupted by a signal.
const loadRetries = 100

// loadOnce is BPF_PROG_LOAD, retried while it fails with EAGAIN: since Linux
// 4.20 a signal interrupts the verifier that way, and the Go runtime signals
// its threads (SIGURG preemption) often enough to hit a slow verifier, as
// under qemu's TCG.
func loadOnce(attr *progLoadAttr) (fd int, err error) {
	for range loadRetries {
		fd, err = bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(attr), unsafe.Sizeof(*attr))
		if !errors.Is(err, unix.EAGAIN) {
			break
		}
	}
	return fd, err
}

// load hands the program to the kernel's verifier; on a refusal the error
// carries the verifier's log.
func load(prog []insn) (int, error) {
	license := []byte("Apache-2.0\x00")
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    unsafe.Pointer(&prog[0]),
		license:  unsafe.Pointer(&license[0]),
	}
	copy(attr.progName[:], "ocirun_devices")
	fd, err := loadOnce(&attr)
	if err == nil || !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EINVAL) {
		return fd, err
	}
	// Again, with the verifier's log to say why.
	log := make([]byte, 64<<10)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), unsafe.Pointer(&log[0])
	if fd, err2 := loadOnce(&attr); err2 == nil {
		return fd, nil // refused once, loaded now: nothing wrong with the program
	}
	if n := indexZero(log); n > 0 {
		return -1, fmt.Errorf("%w: verifier: %s", err, log[:n])
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
	// A cgroup holds at most 64 programs of one attach type (BPF_CGROUP_MAX_PROGS).
	ids := make([]uint32, 64)
	attr := progQueryAttr{targetFd: uint32(cgroupFd), attachType: unix.BPF_CGROUP_DEVICE,
		progIds: unsafe.Pointer(&ids[0]), progCnt: uint32(len(ids))}
	if _, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
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
	old, err := attachedPrograms(fd)
	if err != nil {
		return fmt.Errorf("list the device filters of %s: %w", dir, err)
	}
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
