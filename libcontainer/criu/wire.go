package criu

import (
	"errors"
	"fmt"
)

// CRIU's RPC messages are protocol buffers (proto2). ocirun writes the few
// it needs with the wire format's four rules instead of linking a protobuf
// runtime: every ocirun command, create included, would otherwise pay its
// package initialisation (docs/DESIGN.md, "CRIU's RPC"). A field is a key
// (field number << 3 | wire type) and a value: a varint, or a length and
// that many bytes (strings and nested messages).

const (
	wireVarint = 0
	wireI64    = 1
	wireBytes  = 2
	wireI32    = 5
)

// encoder appends fields to a message in the order they are written:
// ascending field numbers, as protobuf's own encoders write them.
type encoder struct{ buf []byte }

func (e *encoder) varint(v uint64) {
	for v >= 0x80 {
		e.buf = append(e.buf, byte(v)|0x80)
		v >>= 7
	}
	e.buf = append(e.buf, byte(v))
}

func (e *encoder) key(num, wire int) { e.varint(uint64(num)<<3 | uint64(wire)) }

// int32 fields and enums sign-extend: a negative value takes ten bytes.
func (e *encoder) int32(num int, v int32) {
	e.key(num, wireVarint)
	e.varint(uint64(int64(v)))
}

func (e *encoder) uint32(num int, v uint32) {
	e.key(num, wireVarint)
	e.varint(uint64(v))
}

func (e *encoder) bool(num int, v bool) {
	var b uint64
	if v {
		b = 1
	}
	e.key(num, wireVarint)
	e.varint(b)
}

func (e *encoder) string(num int, v string) {
	e.key(num, wireBytes)
	e.varint(uint64(len(v)))
	e.buf = append(e.buf, v...)
}

// message writes a nested message: its length first, so it is encoded apart.
func (e *encoder) message(num int, m interface{ encode(*encoder) }) {
	var sub encoder
	m.encode(&sub)
	e.key(num, wireBytes)
	e.varint(uint64(len(sub.buf)))
	e.buf = append(e.buf, sub.buf...)
}

// opt writes an optional field (a pointer) only when it is set: CRIU tells
// "not given" (its default, or its configuration file's) from a given false.
func opt[T any](e *encoder, num int, v *T, write func(*encoder, int, T)) {
	if v != nil {
		write(e, num, *v)
	}
}

var errTruncated = errors.New("truncated message")

// decoder reads a message's fields one by one.
type decoder struct{ buf []byte }

func (d *decoder) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if i >= len(d.buf) {
			return 0, errTruncated
		}
		b := d.buf[i]
		if i == 9 && b > 1 { // bits past the 64th: protobuf refuses it
			return 0, errors.New("varint overflows 64 bits")
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			d.buf = d.buf[i+1:]
			return v, nil
		}
	}
	return 0, errors.New("varint longer than ten bytes")
}

// field reads the next key and its value: the varint for wireVarint, the
// bytes for wireBytes; fixed-size values are skipped. Groups (wire types 3
// and 4) have been deprecated since proto2 began and CRIU sends none.
func (d *decoder) field() (num int, wire int, v uint64, b []byte, err error) {
	k, err := d.varint()
	if err != nil {
		return 0, 0, 0, nil, err
	}
	num, wire = int(k>>3), int(k&7)
	if num <= 0 || k>>3 > 1<<29-1 {
		return 0, 0, 0, nil, fmt.Errorf("bad field number %d", k>>3)
	}
	switch wire {
	case wireVarint:
		v, err = d.varint()
	case wireBytes:
		var n uint64
		if n, err = d.varint(); err == nil {
			if n > uint64(len(d.buf)) {
				return 0, 0, 0, nil, errTruncated
			}
			b, d.buf = d.buf[:n], d.buf[n:]
		}
	case wireI64, wireI32:
		n := 8
		if wire == wireI32 {
			n = 4
		}
		if len(d.buf) < n {
			return 0, 0, 0, nil, errTruncated
		}
		d.buf = d.buf[n:]
	default:
		return 0, 0, 0, nil, fmt.Errorf("field %d: unsupported wire type %d", num, wire)
	}
	return num, wire, v, b, err
}

// each calls fn for every field of msg; fn sees only the fields it knows,
// with the value for their wire type, and skips the rest.
func each(msg []byte, fn func(num, wire int, v uint64, b []byte) error) error {
	d := decoder{msg}
	for len(d.buf) > 0 {
		num, wire, v, b, err := d.field()
		if err != nil {
			return err
		}
		if err := fn(num, wire, v, b); err != nil {
			return err
		}
	}
	return nil
}
