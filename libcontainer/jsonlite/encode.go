// Package jsonlite encodes ocirun's own config and state types as
// encoding/json does, for what a create writes: the container's config and
// its state.json. encoding/json sets up a codec per type on first use, in
// every process, and for these type trees that set-up was most of a
// create's JSON work (with a hundred creates at once, 5 % of their CPU and
// a sixth of their page faults: docs/PERFORMANCE.md). Here the set-up is a
// walk of each struct's tags.
//
// It covers the kinds those types use: structs, pointers, slices, string-
// keyed maps, strings, bools, integers, json.RawMessage, Encoded and
// time.Time.
// Anything else (floats, interfaces, other marshalers, []byte, embedded
// structs, the ",string" option) is an error, and Marshal's callers fall
// back to encoding/json, so an unforeseen type is slower, never wrong.
package jsonlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Marshal encodes v as json.Marshal would (the same values decode back);
// an error means a type it does not cover.
func Marshal(v any) ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	e := encoder{fields: map[reflect.Type][]field{}, custom: map[reflect.Type]bool{}}
	return e.value(make([]byte, 0, 1024), reflect.ValueOf(v))
}

// Encoded is JSON that is known to be valid: what Marshal or encoding/json
// encoded, or a value encoding/json decoded it from (it parses the whole
// document before it hands a value to UnmarshalJSON); set it from nothing
// else. Marshal writes it as it is (an empty one is an error), where it
// checks and compacts a json.RawMessage (encoding/json's Compact, a quarter
// of the encoding of a create's state). encoding/json reads and writes it
// as it does a json.RawMessage.
type Encoded []byte

// MarshalJSON returns e (null when nil), as json.RawMessage does.
func (e Encoded) MarshalJSON() ([]byte, error) {
	if e == nil {
		return []byte("null"), nil
	}
	return e, nil
}

// UnmarshalJSON keeps a copy of data, as json.RawMessage does.
func (e *Encoded) UnmarshalJSON(data []byte) error {
	*e = append((*e)[:0], data...)
	return nil
}

// field is one struct field as encoding/json sees it.
type field struct {
	index     int
	key       string // the quoted name and a colon
	omitEmpty bool
	omitZero  bool
}

type encoder struct { // per call: no state between calls
	fields map[reflect.Type][]field
	custom map[reflect.Type]bool // whether a type has a marshaler of its own
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	encodedType    = reflect.TypeFor[Encoded]()
	timeType       = reflect.TypeFor[time.Time]()
	marshalerType  = reflect.TypeFor[json.Marshaler]()
	textType       = reflect.TypeFor[interface{ MarshalText() ([]byte, error) }]()
)

func (e *encoder) value(b []byte, v reflect.Value) ([]byte, error) {
	t := v.Type()
	switch t {
	case rawMessageType:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		// encoding/json checks and compacts it; a RawMessage here is one
		// it produced, but an invalid one must not reach the file.
		out := bytes.NewBuffer(b)
		if err := json.Compact(out, v.Bytes()); err != nil {
			return nil, fmt.Errorf("jsonlite: %w", err)
		}
		return out.Bytes(), nil
	case encodedType:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		if v.Len() == 0 { // no JSON at all: encoding/json's error
			return nil, fmt.Errorf("jsonlite: empty %s", t)
		}
		return append(b, v.Bytes()...), nil
	case timeType:
		text, err := v.Interface().(time.Time).MarshalJSON()
		return append(b, text...), err
	}
	custom, ok := e.custom[t]
	if !ok {
		custom = t.Implements(marshalerType) || t.Implements(textType)
		// A pointer's methods are its element's pointer-receiver ones;
		// an unnamed type has none, only what embedded fields promote,
		// which jsonFields refuses. PointerTo makes a type when the
		// program has none: only named types need it.
		if !custom && t.Name() != "" {
			pt := reflect.PointerTo(t)
			custom = pt.Implements(marshalerType) || pt.Implements(textType)
		}
		e.custom[t] = custom
	}
	if custom {
		return nil, fmt.Errorf("jsonlite: %s has its own marshaler", t)
	}
	switch t.Kind() {
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case reflect.String:
		return appendQuote(b, v.String()), nil
	case reflect.Pointer:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		return e.value(b, v.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil, fmt.Errorf("jsonlite: %s encodes as base64", t)
		}
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = e.value(b, v.Index(i)); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case reflect.Map:
		if t.Key() != reflect.TypeFor[string]() {
			return nil, fmt.Errorf("jsonlite: map key %s", t.Key())
		}
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendQuote(b, k.String()), ':')
			var err error
			if b, err = e.value(b, v.MapIndex(k)); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case reflect.Struct:
		fields, err := e.structFields(t)
		if err != nil {
			return nil, err
		}
		b = append(b, '{')
		first := true
		for _, f := range fields {
			fv := v.Field(f.index)
			if (f.omitEmpty && isEmpty(fv)) || (f.omitZero && isZero(fv)) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, f.key...)
			if b, err = e.value(b, fv); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("jsonlite: %s: kind %s", t, t.Kind())
}

// structFields reads t's json tags once per call.
func (e *encoder) structFields(t reflect.Type) ([]field, error) {
	if fs, ok := e.fields[t]; ok {
		return fs, nil
	}
	tags, err := jsonFields(t)
	if err != nil {
		return nil, err
	}
	fs := make([]field, len(tags))
	for i, f := range tags {
		fs[i] = field{index: f.index, key: string(append(appendQuote(nil, f.name), ':')), omitEmpty: f.omitEmpty, omitZero: f.omitZero}
	}
	e.fields[t] = fs
	return fs, nil
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZero is encoding/json's omitzero test: an IsZero method, else the zero value.
func isZero(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}

// appendQuote quotes s as a JSON string: what must be escaped is, and
// invalid UTF-8 becomes U+FFFD, as encoding/json makes it.
func appendQuote(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
