package nsenter

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestBootstrapEncode(t *testing.T) {
	b := &Bootstrap{CloneFlags: 0x20000, Join: []NsPath{{Flag: 0x40000000, Path: "/proc/1/ns/net"}}, TimeOffsets: "boottime 1 0\n",
		CgroupTasks: []string{"/sys/fs/cgroup/pids/x/tasks"}}
	enc := b.Encode()
	if got := binary.LittleEndian.Uint32(enc); int(got) != len(enc)-4 {
		t.Fatalf("length prefix %d, body %d", got, len(enc)-4)
	}
	// Walk the records as nsexec.c does.
	body := enc[4:]
	var types []uint32
	for len(body) >= 8 {
		typ, n := binary.LittleEndian.Uint32(body), binary.LittleEndian.Uint32(body[4:])
		types = append(types, typ)
		body = body[8+n:]
	}
	if len(body) != 0 || len(types) != 4 || types[0] != bsCloneFlags || types[1] != bsNsPath || types[2] != bsTimeOffsets || types[3] != bsCgroupTasks {
		t.Fatalf("records %v, leftover %d", types, len(body))
	}
}

func TestMsgRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMsg(&buf, MsgPid, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	typ, payload, err := ReadMsg(&buf)
	if err != nil || typ != MsgPid || !bytes.Equal(payload, []byte{1, 2, 3, 4}) {
		t.Fatalf("%d %v %v", typ, payload, err)
	}
	// A peer claiming a huge message is refused, not allocated for.
	buf.Reset()
	hdr := make([]byte, 8)
	binary.LittleEndian.PutUint32(hdr[4:], 1<<30)
	buf.Write(hdr)
	if _, _, err := ReadMsg(&buf); err == nil {
		t.Fatal("a 1 GiB message was accepted")
	}
}
