package criu

import (
	"errors"
	"fmt"
)

// CRIU's RPC messages (criu/images/rpc.proto, proto2), the fields ocirun
// uses, with their wire encoding written out here. Not go-criu's generated
// package: it and the protobuf runtime it needs register descriptors in
// package init, which every ocirun process paid for (about 0.3 ms per start,
// the container's init included) although only checkpoint and restore speak
// to CRIU. Optional fields are pointers, set when sent, as in generated code.

// ReqType is criu_req_type.
type ReqType int32

const (
	ReqDump         ReqType = 1
	ReqRestore      ReqType = 2
	ReqPreDump      ReqType = 4
	ReqNotify       ReqType = 6
	ReqFeatureCheck ReqType = 9
)

func (t ReqType) String() string {
	switch t {
	case ReqDump:
		return "DUMP"
	case ReqRestore:
		return "RESTORE"
	case ReqPreDump:
		return "PRE_DUMP"
	case ReqNotify:
		return "NOTIFY"
	case ReqFeatureCheck:
		return "FEATURE_CHECK"
	}
	return fmt.Sprintf("type %d", int32(t))
}

// CgMode is criu_cg_mode.
type CgMode int32

const (
	CgIgnore CgMode = 0
	CgSoft   CgMode = 3
	CgFull   CgMode = 4
	CgStrict CgMode = 5
)

// NetworkLock is criu_network_lock_method.
type NetworkLock int32

const (
	LockIPTables NetworkLock = 1
	LockNFTables NetworkLock = 2
)

// Opts is criu_opts. ImagesDirFd is required.
type Opts struct {
	ImagesDirFd       int32
	Pid               *int32
	LeaveRunning      *bool
	ExtUnixSk         *bool
	TCPEstablished    *bool
	ShellJob          *bool
	FileLocks         *bool
	LogLevel          *int32
	LogFile           *string
	Ps                *PageServer
	NotifyScripts     *bool
	Root              *string
	ParentImg         *string
	TrackMem          *bool
	AutoDedup         *bool
	WorkDirFd         *int32
	ManageCgroups     *bool
	CgRoot            []CgroupRoot
	RstSibling        *bool
	InheritFd         []InheritFd
	ManageCgroupsMode *CgMode
	External          []string
	EmptyNs           *uint32
	JoinNs            []JoinNamespace
	FreezeCgroup      *string
	LazyPages         *bool
	StatusFd          *int32
	OrphanPtsMaster   *bool
	NetworkLock       *NetworkLock
}

// PageServer is criu_page_server_info.
type PageServer struct {
	Address string
	Port    int32
}

// CgroupRoot is cgroup_root.
type CgroupRoot struct{ Ctrl, Path string }

// InheritFd is inherit_fd.
type InheritFd struct {
	Key string
	Fd  int32
}

// JoinNamespace is join_namespace.
type JoinNamespace struct{ Ns, NsFile string }

// Features is criu_features.
type Features struct{ MemTrack *bool }

// Resp is what ocirun reads of criu_resp.
type Resp struct {
	Type         ReqType
	Success      bool
	RestorePid   int32 // restore.pid
	NotifyScript string
	NotifyPid    int32
	CrErrno      int32
	CrErrmsg     string
	MemTrack     bool // features.mem_track
}

// Bool, Int32, Uint32 and String return pointers for optional fields.
func Bool(v bool) *bool       { return &v }
func Int32(v int32) *int32    { return &v }
func Uint32(v uint32) *uint32 { return &v }
func String(v string) *string { return &v }

// enc appends protobuf fields.
type enc []byte

func (e *enc) varint(v uint64) {
	for v >= 0x80 {
		*e = append(*e, byte(v)|0x80)
		v >>= 7
	}
	*e = append(*e, byte(v))
}

func (e *enc) tag(field, wire int) { e.varint(uint64(field)<<3 | uint64(wire)) }

// int32 fields (and enums) are sign-extended to 64 bits, as protobuf does.
func (e *enc) int32(field int, v int32) { e.tag(field, 0); e.varint(uint64(int64(v))) }

func (e *enc) bytes(field int, b []byte) {
	e.tag(field, 2)
	e.varint(uint64(len(b)))
	*e = append(*e, b...)
}

func (e *enc) optBool(field int, v *bool) {
	if v != nil {
		b := int32(0)
		if *v {
			b = 1
		}
		e.int32(field, b)
	}
}

func (e *enc) optInt32(field int, v *int32) {
	if v != nil {
		e.int32(field, *v)
	}
}

func (e *enc) optString(field int, v *string) {
	if v != nil {
		e.bytes(field, []byte(*v))
	}
}

func (o *Opts) encode() []byte {
	var e enc
	e.int32(1, o.ImagesDirFd)
	e.optInt32(2, o.Pid)
	e.optBool(3, o.LeaveRunning)
	e.optBool(4, o.ExtUnixSk)
	e.optBool(5, o.TCPEstablished)
	e.optBool(7, o.ShellJob)
	e.optBool(8, o.FileLocks)
	e.optInt32(9, o.LogLevel)
	e.optString(10, o.LogFile)
	if o.Ps != nil {
		var ps enc
		ps.bytes(1, []byte(o.Ps.Address))
		ps.int32(2, o.Ps.Port)
		e.bytes(11, ps)
	}
	e.optBool(12, o.NotifyScripts)
	e.optString(13, o.Root)
	e.optString(14, o.ParentImg)
	e.optBool(15, o.TrackMem)
	e.optBool(16, o.AutoDedup)
	e.optInt32(17, o.WorkDirFd)
	e.optBool(24, o.ManageCgroups)
	for _, r := range o.CgRoot {
		var m enc
		m.bytes(1, []byte(r.Ctrl)) // always sent: "" names the unified hierarchy
		m.bytes(2, []byte(r.Path))
		e.bytes(25, m)
	}
	e.optBool(26, o.RstSibling)
	for _, f := range o.InheritFd {
		var m enc
		m.bytes(1, []byte(f.Key))
		m.int32(2, f.Fd)
		e.bytes(27, m)
	}
	if o.ManageCgroupsMode != nil {
		e.int32(34, int32(*o.ManageCgroupsMode))
	}
	for _, x := range o.External {
		e.bytes(37, []byte(x))
	}
	if o.EmptyNs != nil {
		e.tag(38, 0)
		e.varint(uint64(*o.EmptyNs))
	}
	for _, j := range o.JoinNs {
		var m enc
		m.bytes(1, []byte(j.Ns))
		m.bytes(2, []byte(j.NsFile))
		e.bytes(39, m)
	}
	e.optString(44, o.FreezeCgroup)
	e.optBool(48, o.LazyPages)
	e.optInt32(49, o.StatusFd)
	e.optBool(50, o.OrphanPtsMaster)
	if o.NetworkLock != nil {
		e.int32(64, int32(*o.NetworkLock))
	}
	return e
}

// encodeReq encodes criu_req.
func encodeReq(typ ReqType, opts *Opts, features *Features, notifySuccess bool) []byte {
	var e enc
	e.int32(1, int32(typ))
	if opts != nil {
		e.bytes(2, opts.encode())
	}
	if notifySuccess {
		e.optBool(3, Bool(true))
	}
	if features != nil {
		var f enc
		f.optBool(1, features.MemTrack)
		e.bytes(5, f)
	}
	return e
}

var errTruncated = errors.New("truncated message")

// field is one decoded protobuf field: a varint, or the bytes of a length-delimited one.
type field struct {
	num  int
	v    uint64
	data []byte
}

// fields splits a message into its fields; fixed-size ones are skipped.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		key, n := uvarint(b)
		if n <= 0 {
			return nil, errTruncated
		}
		b = b[n:]
		f := field{num: int(key >> 3)}
		switch key & 7 {
		case 0:
			if f.v, n = uvarint(b); n <= 0 {
				return nil, errTruncated
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return nil, errTruncated
			}
			b = b[8:]
			continue
		case 2:
			l, n := uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return nil, errTruncated
			}
			f.data, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return nil, errTruncated
			}
			b = b[4:]
			continue
		default:
			return nil, fmt.Errorf("unsupported wire type %d", key&7)
		}
		out = append(out, f)
	}
	return out, nil
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// toInt32 keeps the low 32 bits, as protobuf decodes an int32.
func toInt32(v uint64) int32 { return int32(v) }

// decodeResp decodes criu_resp.
func decodeResp(b []byte) (*Resp, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, err
	}
	r := &Resp{}
	sub := func(data []byte, each func(field)) error {
		fs, err := fields(data)
		for _, f := range fs {
			each(f)
		}
		return err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			r.Type = ReqType(toInt32(f.v))
		case 2:
			r.Success = f.v != 0
		case 4:
			err = sub(f.data, func(g field) {
				if g.num == 1 {
					r.RestorePid = toInt32(g.v)
				}
			})
		case 5:
			err = sub(f.data, func(g field) {
				switch g.num {
				case 1:
					r.NotifyScript = string(g.data)
				case 2:
					r.NotifyPid = toInt32(g.v)
				}
			})
		case 7:
			r.CrErrno = toInt32(f.v)
		case 8:
			err = sub(f.data, func(g field) {
				if g.num == 1 {
					r.MemTrack = g.v != 0
				}
			})
		case 9:
			r.CrErrmsg = string(f.data)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}
