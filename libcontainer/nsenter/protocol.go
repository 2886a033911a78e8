package nsenter

import (
	"encoding/binary"
	"fmt"
	"io"
)

// EnvInitPipe names the environment variable that carries the bootstrap
// socket's fd number to the C constructor and then to the Go init.
const EnvInitPipe = "_OCIRUN_INITPIPE"

// Bootstrap record types, sent parent → constructor. Keep in step with nsexec.c.
const (
	bsCloneFlags  = 1 // u32: CLONE_NEW* flags to unshare
	bsNsPath      = 2 // u32 clone flag + path: a namespace to join
	bsTimeOffsets = 3 // text for /proc/self/timens_offsets
	bsCgroupTasks = 4 // path of a v1 hierarchy's tasks file: the constructor moves itself there
	bsExecPlan    = 5 // no data: the last process applies the plan sent after MsgPid and execs (plan.c)
)

// Message types on the socket, both directions. Keep in step with nsexec.c.
const (
	MsgSyncReq = 1 // constructor → parent: write id maps and the OOM score, then ack
	MsgSyncAck = 2 // parent → constructor
	MsgPid     = 3 // constructor → parent: u32 host pid of the container init
	MsgError   = 4 // either way: text of a failure
)

// NsPath is a namespace to join: its CLONE_NEW* flag and the path of its file.
type NsPath struct {
	Flag uint32
	Path string
}

// Bootstrap is what the constructor needs before Go starts.
type Bootstrap struct {
	CloneFlags  uint32
	Join        []NsPath
	TimeOffsets string
	// CgroupTasks are v1 `tasks` files the constructor writes "0" to, first
	// thing: a task moving itself takes no global lock (see nsexec.c).
	CgroupTasks []string
	// ExecPlan keeps the constructor's last process in C: instead of
	// returning into the Go runtime it reads the process's plan, which the
	// parent sends once it has the pid, applies it and execs (`exec`).
	ExecPlan bool
}

// Encode frames the bootstrap as one length-prefixed message of records.
func (b *Bootstrap) Encode() []byte {
	var body []byte
	rec := func(t uint32, data []byte) {
		body = binary.LittleEndian.AppendUint32(body, t)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(data)))
		body = append(body, data...)
	}
	rec(bsCloneFlags, binary.LittleEndian.AppendUint32(nil, b.CloneFlags))
	for _, j := range b.Join {
		rec(bsNsPath, append(binary.LittleEndian.AppendUint32(nil, j.Flag), j.Path...))
	}
	if b.TimeOffsets != "" {
		rec(bsTimeOffsets, []byte(b.TimeOffsets))
	}
	for _, t := range b.CgroupTasks {
		rec(bsCgroupTasks, []byte(t))
	}
	if b.ExecPlan {
		rec(bsExecPlan, nil)
	}
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// WriteMsg sends one framed message: u32 type, u32 length, payload.
func WriteMsg(w io.Writer, t uint32, payload []byte) error {
	buf := make([]byte, 8, 8+len(payload))
	binary.LittleEndian.PutUint32(buf, t)
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(payload)))
	_, err := w.Write(append(buf, payload...))
	return err
}

// maxMsg bounds a message so a confused peer cannot make us allocate without limit.
const maxMsg = 64 << 20

// ReadMsg reads one framed message.
func ReadMsg(r io.Reader) (uint32, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	t, n := binary.LittleEndian.Uint32(hdr[:]), binary.LittleEndian.Uint32(hdr[4:])
	if n > maxMsg {
		return 0, nil, fmt.Errorf("message of %d bytes is too large", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return t, payload, nil
}
