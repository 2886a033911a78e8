// Package criu runs CRIU in its service mode (`criu swrk`) and speaks its
// RPC (protobuf messages, rpc.go) over a socket pair: one request, the
// notifications CRIU sends while it works, and the final answer.
package criu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// Swrk is one `criu swrk` process. CRIU resolves the directory and status
// fds of a request in its client's table (/proc/<peer>/fd/N): those are our
// own numbers. Inherited fds (inherit_fd) are its own: files given to
// AddFile before Start reach it at the numbers AddFile returns.
type Swrk struct {
	Path                  string // the criu binary
	Stdin, Stdout, Stderr *os.File
	files                 []*os.File
	cmd                   *exec.Cmd
	sock                  *os.File
}

// swrkSockFd is where CRIU finds its end of the RPC socket.
const swrkSockFd = 3

// AddFile passes f to CRIU and returns its fd number there.
func (s *Swrk) AddFile(f *os.File) int32 {
	s.files = append(s.files, f)
	return int32(swrkSockFd + len(s.files))
}

// Start runs `criu swrk` and returns its pid.
func (s *Swrk) Start() (int, error) {
	// SOCK_SEQPACKET keeps each protobuf message whole, as CRIU expects.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("criu socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "criu-rpc"), os.NewFile(uintptr(fds[1]), "criu-rpc-peer")
	defer theirs.Close()
	cmd := exec.Command(s.Path, "swrk", fmt.Sprint(swrkSockFd))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.Stdin, s.Stdout, s.Stderr
	cmd.ExtraFiles = append([]*os.File{theirs}, s.files...)
	if err := cmd.Start(); err != nil {
		ours.Close()
		return 0, fmt.Errorf("start %s swrk (--criu names the binary): %w", s.Path, err)
	}
	s.cmd, s.sock = cmd, ours
	return cmd.Process.Pid, nil
}

// Error is CRIU's answer to a request that failed.
type Error struct {
	Op    string
	Msg   string
	Errno int32
}

func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = "failed"
	}
	if e.Errno != 0 {
		msg += ": " + unix.Errno(e.Errno).Error()
	}
	return fmt.Sprintf("criu %s: %s", e.Op, msg)
}

// Notification is one message CRIU sends while it works: the script name
// ("setup-namespaces", "post-restore", "orphan-pts-master", ...), the pid it
// names, and the files that came with it (the new pty master of a restored
// terminal). Call closes the files after the callback.
type Notification struct {
	Script string
	Pid    int32
	Files  []*os.File
}

// Notify is called for each notification; an error aborts the request.
type Notify func(n *Notification) error

// Call sends one request and answers CRIU's notifications until the final
// response, which it returns.
func (s *Swrk) Call(typ ReqType, opts *Opts, features *Features, notify Notify) (*Response, error) {
	if s.sock == nil {
		return nil, errors.New("criu swrk is not started")
	}
	op := typ.String()
	if opts != nil && notify != nil {
		opts.NotifyScripts = new(true)
	}
	req := &Request{Type: typ, Opts: opts, Features: features}
	buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4*4))
	for {
		if _, err := s.sock.Write(req.Marshal()); err != nil {
			return nil, fmt.Errorf("criu %s: send request: %w", op, err)
		}
		n, files, err := s.recv(buf, oob)
		if err != nil {
			return nil, fmt.Errorf("criu %s: read answer (did criu die?): %w", op, err)
		}
		resp := &Response{}
		if err := resp.Unmarshal(buf[:n]); err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("criu %s: decode answer: %w", op, err)
		}
		nt := &Notification{Files: files}
		if resp.Notify != nil {
			nt.Script, nt.Pid = resp.Notify.Script, resp.Notify.Pid
		}
		err = nil
		if resp.Success && resp.Type == ReqNotify && notify != nil {
			err = notify(nt)
		}
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			return resp, fmt.Errorf("criu %s: %s: %w", op, nt.Script, err)
		}
		if !resp.Success {
			return resp, &Error{Op: op, Msg: resp.CrErrmsg, Errno: resp.CrErrno}
		}
		if resp.Type != ReqNotify {
			if resp.Type != typ {
				return resp, fmt.Errorf("criu %s: unexpected answer %s", op, resp.Type)
			}
			return resp, nil
		}
		req = &Request{Type: ReqNotify, NotifySuccess: new(true)}
	}
}

// recv reads one message and the files passed with it.
func (s *Swrk) recv(buf, oob []byte) (int, []*os.File, error) {
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(s.sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		if n == 0 {
			return 0, nil, errors.New("criu closed the connection")
		}
		var files []*os.File
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return 0, nil, fmt.Errorf("parse passed fds: %w", err)
			}
			for i := range msgs {
				fds, err := unix.ParseUnixRights(&msgs[i])
				if err != nil {
					continue
				}
				for _, fd := range fds {
					files = append(files, os.NewFile(uintptr(fd), "criu-passed-fd"))
				}
			}
		}
		return n, files, nil
	}
}

// Close ends the session: CRIU exits when its socket closes.
func (s *Swrk) Close() error {
	if s.cmd == nil {
		return nil
	}
	s.sock.Close()
	err := s.cmd.Wait()
	s.cmd, s.sock = nil, nil
	if err != nil {
		return fmt.Errorf("criu swrk: %w", err)
	}
	return nil
}
