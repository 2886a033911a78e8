package criu

import (
	"errors"
	"fmt"
)

// The messages of CRIU's RPC (criu/rpc.proto in CRIU's sources, also in
// go-criu's rpc package) that ocirun sends and reads. Field names are
// go-criu's, field numbers CRIU's; the tests hold both against go-criu's
// generated code, byte for byte. Pointers are proto2's optional fields.

// ReqType is a request's kind (criu_req_type).
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
		return "dump"
	case ReqRestore:
		return "restore"
	case ReqPreDump:
		return "pre-dump"
	case ReqNotify:
		return "notify"
	case ReqFeatureCheck:
		return "feature check"
	}
	return fmt.Sprintf("request type %d", int32(t))
}

// CgMode is how CRIU handles cgroups (criu_cg_mode).
type CgMode int32

const (
	CgIgnore CgMode = 0
	CgSoft   CgMode = 3
	CgFull   CgMode = 4
	CgStrict CgMode = 5
)

// NetworkLockMethod is how CRIU cuts the network while it works.
type NetworkLockMethod int32

const (
	NetworkLockIptables NetworkLockMethod = 1
	NetworkLockNftables NetworkLockMethod = 2
)

// Opts are a dump's or restore's options (criu_opts).
type Opts struct {
	ImagesDirFd       int32              // 1, required
	Pid               *int32             // 2
	LeaveRunning      *bool              // 3
	ExtUnixSk         *bool              // 4
	TcpEstablished    *bool              // 5
	ShellJob          *bool              // 7
	FileLocks         *bool              // 8
	LogLevel          *int32             // 9
	LogFile           *string            // 10
	Ps                *PageServerInfo    // 11
	NotifyScripts     *bool              // 12
	Root              *string            // 13
	ParentImg         *string            // 14
	TrackMem          *bool              // 15
	AutoDedup         *bool              // 16
	WorkDirFd         *int32             // 17
	ManageCgroups     *bool              // 24
	CgRoot            []*CgroupRoot      // 25
	RstSibling        *bool              // 26
	InheritFd         []*InheritFd       // 27
	ManageCgroupsMode *CgMode            // 34
	External          []string           // 37
	EmptyNs           *uint32            // 38
	JoinNs            []*JoinNamespace   // 39
	FreezeCgroup      *string            // 44
	LazyPages         *bool              // 48
	StatusFd          *int32             // 49
	OrphanPtsMaster   *bool              // 50
	NetworkLock       *NetworkLockMethod // 64
}

func (o *Opts) encode(e *encoder) {
	e.int32(1, o.ImagesDirFd)
	opt(e, 2, o.Pid, (*encoder).int32)
	opt(e, 3, o.LeaveRunning, (*encoder).bool)
	opt(e, 4, o.ExtUnixSk, (*encoder).bool)
	opt(e, 5, o.TcpEstablished, (*encoder).bool)
	opt(e, 7, o.ShellJob, (*encoder).bool)
	opt(e, 8, o.FileLocks, (*encoder).bool)
	opt(e, 9, o.LogLevel, (*encoder).int32)
	opt(e, 10, o.LogFile, (*encoder).string)
	if o.Ps != nil {
		e.message(11, o.Ps)
	}
	opt(e, 12, o.NotifyScripts, (*encoder).bool)
	opt(e, 13, o.Root, (*encoder).string)
	opt(e, 14, o.ParentImg, (*encoder).string)
	opt(e, 15, o.TrackMem, (*encoder).bool)
	opt(e, 16, o.AutoDedup, (*encoder).bool)
	opt(e, 17, o.WorkDirFd, (*encoder).int32)
	opt(e, 24, o.ManageCgroups, (*encoder).bool)
	for _, c := range o.CgRoot {
		e.message(25, c)
	}
	opt(e, 26, o.RstSibling, (*encoder).bool)
	for _, f := range o.InheritFd {
		e.message(27, f)
	}
	opt(e, 34, (*int32)(o.ManageCgroupsMode), (*encoder).int32)
	for _, s := range o.External {
		e.string(37, s)
	}
	opt(e, 38, o.EmptyNs, (*encoder).uint32)
	for _, j := range o.JoinNs {
		e.message(39, j)
	}
	opt(e, 44, o.FreezeCgroup, (*encoder).string)
	opt(e, 48, o.LazyPages, (*encoder).bool)
	opt(e, 49, o.StatusFd, (*encoder).int32)
	opt(e, 50, o.OrphanPtsMaster, (*encoder).bool)
	opt(e, 64, (*int32)(o.NetworkLock), (*encoder).int32)
}

// PageServerInfo names a page server (criu_page_server_info).
type PageServerInfo struct {
	Address *string // 1
	Port    *int32  // 2
}

func (p *PageServerInfo) encode(e *encoder) {
	opt(e, 1, p.Address, (*encoder).string)
	opt(e, 2, p.Port, (*encoder).int32)
}

// CgroupRoot remaps a hierarchy's root at restore (cgroup_root).
type CgroupRoot struct {
	Ctrl *string // 1
	Path string  // 2, required
}

func (c *CgroupRoot) encode(e *encoder) {
	opt(e, 1, c.Ctrl, (*encoder).string)
	e.string(2, c.Path)
}

// InheritFd gives a restored process one of CRIU's fds for a key (inherit_fd).
type InheritFd struct {
	Key string // 1, required
	Fd  int32  // 2, required
}

func (f *InheritFd) encode(e *encoder) {
	e.string(1, f.Key)
	e.int32(2, f.Fd)
}

// JoinNamespace makes the restored tree join an existing namespace (join_namespace).
type JoinNamespace struct {
	Ns     string // 1, required
	NsFile string // 2, required
}

func (j *JoinNamespace) encode(e *encoder) {
	e.string(1, j.Ns)
	e.string(2, j.NsFile)
}

// Features asks which features CRIU and the kernel have, and is the answer
// (criu_features).
type Features struct {
	MemTrack   *bool // 1
	LazyPages  *bool // 2
	PidfdStore *bool // 3
}

func (f *Features) encode(e *encoder) {
	opt(e, 1, f.MemTrack, (*encoder).bool)
	opt(e, 2, f.LazyPages, (*encoder).bool)
	opt(e, 3, f.PidfdStore, (*encoder).bool)
}

func (f *Features) decode(msg []byte) error {
	return each(msg, func(num, wire int, v uint64, _ []byte) error {
		if wire != wireVarint {
			return nil
		}
		switch num {
		case 1:
			f.MemTrack = new(v != 0)
		case 2:
			f.LazyPages = new(v != 0)
		case 3:
			f.PidfdStore = new(v != 0)
		}
		return nil
	})
}

// Request is one request (criu_req).
type Request struct {
	Type          ReqType   // 1, required
	Opts          *Opts     // 2
	NotifySuccess *bool     // 3
	Features      *Features // 5
}

func (r *Request) encode(e *encoder) {
	e.int32(1, int32(r.Type))
	if r.Opts != nil {
		e.message(2, r.Opts)
	}
	opt(e, 3, r.NotifySuccess, (*encoder).bool)
	if r.Features != nil {
		e.message(5, r.Features)
	}
}

// Marshal is the request's wire form.
func (r *Request) Marshal() []byte {
	var e encoder
	r.encode(&e)
	return e.buf
}

// Response is CRIU's answer or notification (criu_resp); the fields ocirun
// does not read (dump, page server, version, status) are skipped.
type Response struct {
	Type     ReqType      // 1
	Success  bool         // 2
	Restore  *RestoreResp // 4
	Notify   *NotifyMsg   // 5
	CrErrno  int32        // 7
	Features *Features    // 8
	CrErrmsg string       // 9
}

// RestoreResp is a restore's result (criu_restore_resp).
type RestoreResp struct {
	Pid int32 // 1
}

// NotifyMsg is what a notification names (criu_notify).
type NotifyMsg struct {
	Script string // 1
	Pid    int32  // 2
}

// Unmarshal reads a response. A nested message given twice is merged, and
// a scalar given twice takes the last value, as protobuf does; a response
// without its required fields (type, success, a restore's pid) is refused,
// as protobuf refuses it.
func (r *Response) Unmarshal(msg []byte) error {
	var hasType, hasSuccess, hasPid bool
	err := each(msg, func(num, wire int, v uint64, b []byte) error {
		switch {
		case wire == wireVarint && num == 1:
			r.Type, hasType = ReqType(int32(v)), true
		case wire == wireVarint && num == 2:
			r.Success, hasSuccess = v != 0, true
		case wire == wireVarint && num == 7:
			r.CrErrno = int32(v)
		case wire == wireBytes && num == 9:
			r.CrErrmsg = string(b)
		case wire == wireBytes && num == 4:
			if r.Restore == nil {
				r.Restore = &RestoreResp{}
			}
			return each(b, func(num, wire int, v uint64, _ []byte) error {
				if num == 1 && wire == wireVarint {
					r.Restore.Pid, hasPid = int32(v), true
				}
				return nil
			})
		case wire == wireBytes && num == 5:
			if r.Notify == nil {
				r.Notify = &NotifyMsg{}
			}
			return each(b, func(num, wire int, v uint64, b []byte) error {
				switch {
				case num == 1 && wire == wireBytes:
					r.Notify.Script = string(b)
				case num == 2 && wire == wireVarint:
					r.Notify.Pid = int32(v)
				}
				return nil
			})
		case wire == wireBytes && num == 8:
			if r.Features == nil {
				r.Features = &Features{}
			}
			return r.Features.decode(b)
		case wire == wireBytes && (num == 3 || num == 6 || num == 10):
			// dump, page server, version: not read, but a malformed one
			// makes the response malformed, as protobuf reads it.
			return each(b, func(int, int, uint64, []byte) error { return nil })
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case !hasType || !hasSuccess:
		return errors.New("response without its type or success")
	case r.Restore != nil && !hasPid:
		return errors.New("restore response without a pid")
	}
	return nil
}
