package criu

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"google.golang.org/protobuf/proto"
)

// go-criu's generated code is the oracle: whatever ocirun writes, protobuf
// reads back as the same request and writes as the same bytes; whatever
// protobuf writes, ocirun reads as protobuf does.

// fill sets v (a pointer) to random values: optional fields set or not,
// negative numbers, empty and non-ASCII strings, lists of 0-3 entries.
// With all, every optional field is set and every list has an entry.
func fill(r *rand.Rand, v reflect.Value, all bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !all && r.IntN(4) == 0 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(r, v.Elem(), all)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), all)
			}
		}
	case reflect.Slice:
		n := r.IntN(4)
		if all && n == 0 {
			n = 1
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := 0; i < n; i++ {
			e := v.Index(i)
			if e.Kind() == reflect.Pointer { // a list holds no nil message
				e.Set(reflect.New(e.Type().Elem()))
				e = e.Elem()
			}
			fill(r, e, all)
		}
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int32:
		v.SetInt(int64([]int32{0, 1, -1, 127, 128, 1 << 20, -1 << 31, 1<<31 - 1, r.Int32()}[r.IntN(9)]))
	case reflect.Uint32:
		v.SetUint(uint64([]uint32{0, 1, 1<<32 - 1, r.Uint32()}[r.IntN(4)]))
	case reflect.String:
		v.SetString([]string{"", "mnt[/data]:/data", "ſ\x00é", strings.Repeat("x", 200)}[r.IntN(4)])
	}
}

// same reports where ours and theirs (go-criu's) differ, field by field by
// name. A required field of ours is a plain value where theirs is a pointer.
func same(path string, ours, theirs reflect.Value) string {
	if theirs.Kind() == reflect.Pointer && ours.Kind() != reflect.Pointer {
		if theirs.IsNil() {
			theirs = reflect.Zero(theirs.Type().Elem())
		} else {
			theirs = theirs.Elem()
		}
	}
	switch ours.Kind() {
	case reflect.Pointer:
		if ours.IsNil() || theirs.IsNil() {
			if ours.IsNil() != theirs.IsNil() {
				return path + ": set on one side only"
			}
			return ""
		}
		return same(path, ours.Elem(), theirs.Elem())
	case reflect.Struct:
		for i := 0; i < ours.NumField(); i++ {
			name := ours.Type().Field(i).Name
			t := theirs.FieldByName(name)
			if !t.IsValid() {
				return path + "." + name + ": no such field in go-criu"
			}
			if d := same(path+"."+name, ours.Field(i), t); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if ours.Len() != theirs.Len() {
			return path + ": lengths differ"
		}
		for i := 0; i < ours.Len(); i++ {
			if d := same(path, ours.Index(i), theirs.Index(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Int32:
		if ours.Int() != theirs.Int() {
			return path + ": numbers differ"
		}
	case reflect.Uint32:
		if ours.Uint() != theirs.Uint() {
			return path + ": numbers differ"
		}
	case reflect.Bool:
		if ours.Bool() != theirs.Bool() {
			return path + ": bools differ"
		}
	case reflect.String:
		if ours.String() != theirs.String() {
			return path + ": strings differ"
		}
	default:
		return path + ": kind " + ours.Kind().String() + " not compared"
	}
	return ""
}

func TestRequestEncodesLikeProtobuf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	types := []ReqType{ReqDump, ReqRestore, ReqPreDump, ReqNotify, ReqFeatureCheck}
	for i := 0; i < 3000; i++ {
		req := &Request{Type: types[r.IntN(len(types))]}
		all := i < 10 // the first few with every field at once
		fill(r, reflect.ValueOf(&req.Opts).Elem(), all)
		fill(r, reflect.ValueOf(&req.NotifySuccess).Elem(), all)
		fill(r, reflect.ValueOf(&req.Features).Elem(), all)
		ours := req.Marshal()
		var theirs rpc.CriuReq
		if err := proto.Unmarshal(ours, &theirs); err != nil {
			t.Fatalf("protobuf cannot read %#v: %v", req, err)
		}
		if d := same("req", reflect.ValueOf(req).Elem(), reflect.ValueOf(&theirs).Elem()); d != "" {
			t.Fatalf("%s\nours %#v\ntheirs %v", d, req, &theirs)
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&theirs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, want) {
			t.Fatalf("bytes differ for %v\nours   %x\ntheirs %x", &theirs, ours, want)
		}
	}
}

// randomResponse is a response as CRIU may send it, with the fields ocirun
// skips (dump, page server, version, status) set too, and the required
// ones always.
func randomResponse(r *rand.Rand) *rpc.CriuResp {
	resp := &rpc.CriuResp{}
	for _, name := range []string{"Type", "Success", "Dump", "Restore", "Notify", "Ps", "CrErrno", "Features", "CrErrmsg", "Version", "Status"} {
		fill(r, reflect.ValueOf(resp).Elem().FieldByName(name), false)
	}
	if resp.Type == nil {
		resp.Type = rpc.CriuReqType_NOTIFY.Enum()
	}
	if resp.Success == nil {
		resp.Success = new(r.IntN(2) == 1)
	}
	if resp.Restore != nil && resp.Restore.Pid == nil {
		resp.Restore.Pid = new(r.Int32())
	}
	if v := resp.Version; v != nil {
		v.MajorNumber, v.MinorNumber = new(int32(4)), new(int32(2))
	}
	return resp
}

func TestResponseDecodesLikeProtobuf(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 3000; i++ {
		theirs := randomResponse(r)
		data, err := proto.Marshal(theirs)
		if err != nil {
			t.Fatal(err)
		}
		var ours Response
		if err := ours.Unmarshal(data); err != nil {
			t.Fatalf("cannot read %v: %v", theirs, err)
		}
		if d := same("resp", reflect.ValueOf(&ours).Elem(), reflect.ValueOf(theirs).Elem()); d != "" {
			t.Fatalf("%s\nours %#v\ntheirs %v", d, ours, theirs)
		}
	}
}

func TestResponseDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated varint", []byte{0x08, 0x80}},
		{"truncated key", []byte{0x80}},
		{"length past the end", []byte{0x4a, 0x05, 'a'}},
		{"field number 0", []byte{0x00, 0x01}},
		{"varint of eleven bytes", append([]byte{0x08}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"truncated fixed64", []byte{0x09, 1, 2, 3}},
		{"group", []byte{0x0b, 0x0c}},
		{"bad nested notify", []byte{0x2a, 0x02, 0x0a, 0x05}},
		{"varint past 64 bits", append(append([]byte{0x08, 0x01, 0x10, 0x01, 0x38}, bytes.Repeat([]byte{0xff}, 9)...), 0x7f)},
		{"no type", []byte{0x10, 0x01}},
		{"no success", []byte{0x08, 0x01}},
		{"restore without a pid", []byte{0x08, 0x02, 0x10, 0x01, 0x22, 0x00}},
	} {
		var ours Response
		if err := ours.Unmarshal(tc.data); err == nil {
			t.Errorf("%s: %x read without error: %#v", tc.name, tc.data, ours)
		}
		var theirs rpc.CriuResp
		if err := proto.Unmarshal(tc.data, &theirs); err == nil && tc.name != "group" {
			t.Errorf("%s: protobuf reads %x (the case is not malformed)", tc.name, tc.data)
		}
	}
}

// Any bytes: never a panic; what protobuf cannot read, ocirun refuses;
// what it reads, ocirun reads the same, or refuses for a required field
// that protobuf misses too. Groups, which protobuf still skips and CRIU
// never sends, are refused.
func FuzzResponseLikeProtobuf(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20; i++ {
		data, _ := proto.Marshal(randomResponse(r))
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ours Response
		oursErr := ours.Unmarshal(data)
		var theirs rpc.CriuResp
		if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(data, &theirs); err != nil {
			if oursErr == nil {
				t.Fatalf("protobuf refuses %x (%v), ocirun reads %#v", data, err, ours)
			}
			return
		}
		if oursErr != nil {
			if strings.Contains(oursErr.Error(), "wire type") || proto.Unmarshal(data, new(rpc.CriuResp)) != nil {
				return
			}
			t.Fatalf("protobuf reads %x, ocirun: %v", data, oursErr)
		}
		if d := same("resp", reflect.ValueOf(&ours).Elem(), reflect.ValueOf(&theirs).Elem()); d != "" {
			t.Fatalf("%x: %s\nours %#v\ntheirs %v", data, d, ours, &theirs)
		}
	})
}
