package criu

import (
	"bytes"
	"testing"
)

// The bytes below were worked out by hand from rpc.proto's field numbers
// and protobuf's wire format (key = field<<3 | wire type; int32 varints
// sign-extended to 64 bits).
func TestEncodeReq(t *testing.T) {
	mode := CgSoft
	opts := &Opts{ImagesDirFd: -1, Pid: Int32(300), ShellJob: Bool(false), LogFile: String("d.log"),
		CgRoot: []CgroupRoot{{Ctrl: "", Path: "/x"}}, ManageCgroupsMode: &mode}
	got := encodeReq(ReqDump, opts, nil, false)
	want := []byte{
		0x08, 0x01, // type = DUMP
		0x12, 35, // opts, 35 bytes
		0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // images_dir_fd = -1
		0x10, 0xac, 0x02, // pid = 300
		0x38, 0x00, // shell_job = false (sent: it was set)
		0x52, 5, 'd', '.', 'l', 'o', 'g', // log_file
		0xca, 0x01, 6, 0x0a, 0, 0x12, 2, '/', 'x', // cg_root {ctrl "", path "/x"} (field 25)
		0x90, 0x02, 0x03, // manage_cgroups_mode = SOFT (field 34)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodeReq:\n got %x\nwant %x", got, want)
	}
	if got := encodeReq(ReqNotify, nil, nil, true); !bytes.Equal(got, []byte{0x08, 0x06, 0x18, 0x01}) {
		t.Fatalf("notify ack: %x", got)
	}
	if got := encodeReq(ReqFeatureCheck, nil, &Features{MemTrack: Bool(true)}, false); !bytes.Equal(got, []byte{0x08, 0x09, 0x2a, 0x02, 0x08, 0x01}) {
		t.Fatalf("feature check: %x", got)
	}
}

func TestDecodeResp(t *testing.T) {
	msg := []byte{
		0x08, 0x06, // type = NOTIFY
		0x10, 0x01, // success
		0x22, 0x02, 0x08, 0x2a, // restore { pid 42 }
		0x2a, 0x10, 0x0a, 0x0c, 'p', 'o', 's', 't', '-', 'r', 'e', 's', 't', 'o', 'r', 'e', 0x10, 0x07, // notify
		0x38, 0x02, // cr_errno 2
		0x42, 0x02, 0x08, 0x01, // features { mem_track }
		0x4a, 0x03, 'b', 'a', 'd', // cr_errmsg
		0x58, 0x05, // status (ignored)
		0x19, 1, 2, 3, 4, 5, 6, 7, 8, // a fixed64 field 3 (skipped)
	}
	r, err := decodeResp(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := Resp{Type: ReqNotify, Success: true, RestorePid: 42, NotifyScript: "post-restore", NotifyPid: 7,
		CrErrno: 2, CrErrmsg: "bad", MemTrack: true}
	if *r != want {
		t.Fatalf("decodeResp: %+v, want %+v", *r, want)
	}
	if _, err := decodeResp([]byte{0x0a, 0x05, 'a'}); err == nil {
		t.Fatal("a truncated message decoded")
	}
}
