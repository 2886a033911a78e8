package jsonlite

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Unmarshal decodes data into v, which must point to a zero value, as
// json.Unmarshal does: for the bundle's config.json, whose type tree
// (runtime-spec's) encoding/json would set up a decoder for in every create.
// What it does not cover (a type of another kind or with an unmarshaler of
// its own, a name that matches a field only in another case or spelling, a
// name given twice, a value of the wrong type, bad JSON) it leaves to
// json.Unmarshal, from a zero value again: its result and its error texts
// are then exactly encoding/json's.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return json.Unmarshal(data, v)
	}
	d := decoder{dec: json.NewDecoder(bytes.NewReader(data)), fields: map[reflect.Type]map[string]int{}, custom: map[reflect.Type]bool{}}
	d.dec.UseNumber()
	err := d.value(rv.Elem())
	if err == nil {
		if _, end := d.dec.Token(); end != io.EOF {
			err = errors.New("jsonlite: data after the value")
		}
	}
	if err != nil {
		rv.Elem().SetZero()
		return json.Unmarshal(data, v)
	}
	return nil
}

type decoder struct { // per call: no state between calls
	dec    *json.Decoder
	fields map[reflect.Type]map[string]int // struct type → JSON name → field index
	custom map[reflect.Type]bool           // whether a type has an unmarshaler of its own
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	errNotCovered       = errors.New("jsonlite: not covered")
)

func (d *decoder) value(v reflect.Value) error {
	tok, err := d.dec.Token()
	if err != nil {
		return err
	}
	return d.valueFrom(tok, v)
}

func (d *decoder) valueFrom(tok json.Token, v reflect.Value) error {
	t := v.Type()
	custom, ok := d.custom[t]
	if !ok {
		pt := reflect.PointerTo(t)
		custom = pt.Implements(unmarshalerType) || pt.Implements(textUnmarshalerType)
		d.custom[t] = custom
	}
	if custom {
		return errNotCovered
	}
	if tok == nil { // null: nothing for a value, nil for what can be nil
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			v.SetZero()
		case reflect.Interface:
			return errNotCovered
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return d.valueFrom(tok, v.Elem())
	case reflect.Struct:
		if tok != json.Delim('{') {
			return errNotCovered
		}
		return d.object(v)
	case reflect.Map:
		if tok != json.Delim('{') || t.Key() != reflect.TypeFor[string]() {
			return errNotCovered
		}
		return d.mapOf(v)
	case reflect.Slice:
		if tok != json.Delim('[') || t.Elem().Kind() == reflect.Uint8 {
			return errNotCovered
		}
		s := reflect.MakeSlice(t, 0, 0)
		for d.dec.More() {
			s = reflect.Append(s, reflect.Zero(t.Elem()))
			if err := d.value(s.Index(s.Len() - 1)); err != nil {
				return err
			}
		}
		if end, err := d.dec.Token(); err != nil || end != json.Delim(']') {
			return errNotCovered
		}
		v.Set(s)
		return nil
	case reflect.String, reflect.Bool:
		// The token's own kind: a string or a bool, set as v's type.
		tv := reflect.ValueOf(tok)
		if tv.Kind() != v.Kind() {
			return errNotCovered
		}
		v.Set(tv.Convert(t))
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return setInteger(tok, v)
	}
	return errNotCovered
}

// object decodes the members of a JSON object into struct v; the '{' is read.
func (d *decoder) object(v reflect.Value) error {
	names, err := d.structNames(v.Type())
	if err != nil {
		return err
	}
	var seen []int
	for {
		key, more, err := d.member()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		i, ok := names[key]
		if !ok {
			// encoding/json also takes a name in another case (and, on its
			// v2 engine, with - or _ in other places), folding Unicode too
			// ("ſ" is an "s" to it): its decision, for any non-ASCII key.
			if !isASCII(key) {
				return errNotCovered
			}
			for name := range names {
				if loose(name) == loose(key) {
					return errNotCovered
				}
			}
			if err := d.skip(); err != nil {
				return err
			}
			continue
		}
		for _, s := range seen {
			if s == i {
				return errNotCovered // a name given twice
			}
		}
		seen = append(seen, i)
		if err := d.value(v.Field(i)); err != nil {
			return err
		}
	}
	return d.objectEnd()
}

// member reads the name of an object's next member; more is false after
// the last one.
func (d *decoder) member() (key string, more bool, err error) {
	if !d.dec.More() {
		return "", false, nil
	}
	tok, err := d.dec.Token()
	if err != nil {
		return "", false, err
	}
	key, ok := tok.(string)
	if !ok {
		return "", false, errNotCovered
	}
	return key, true, nil
}

// objectEnd reads the '}' after an object's last member.
func (d *decoder) objectEnd() error {
	if end, err := d.dec.Token(); err != nil || end != json.Delim('}') {
		return errNotCovered
	}
	return nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func loose(name string) string {
	return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(name))
}

// mapOf decodes the members of a JSON object into string-keyed map v.
func (d *decoder) mapOf(v reflect.Value) error {
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for {
		key, more, err := d.member()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if v.MapIndex(reflect.ValueOf(key)).IsValid() {
			return errNotCovered // a name given twice
		}
		elem := reflect.New(t.Elem()).Elem()
		if err := d.value(elem); err != nil {
			return err
		}
		v.SetMapIndex(reflect.ValueOf(key), elem)
	}
	return d.objectEnd()
}

// maxDepth is encoding/json's nesting limit, which its tokenizer does
// not apply without GOEXPERIMENT=jsonv2.
const maxDepth = 10000

// skip reads past one value of a member no field takes.
func (d *decoder) skip() error {
	depth := 0
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > maxDepth {
				return errNotCovered
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// structNames maps t's JSON names to its fields, as encoding/json names them.
func (d *decoder) structNames(t reflect.Type) (map[string]int, error) {
	if names, ok := d.fields[t]; ok {
		return names, nil
	}
	tags, err := jsonFields(t)
	if err != nil {
		return nil, err
	}
	names := make(map[string]int, len(tags))
	for _, f := range tags {
		if _, dup := names[f.name]; dup {
			return nil, errNotCovered
		}
		names[f.name] = f.index
	}
	d.fields[t] = names
	return names, nil
}

// setInteger sets integer v from a number token that is an integer in its
// range (encoding/json refuses the rest: 1.5, 1e3, an overflow).
func setInteger(tok json.Token, v reflect.Value) error {
	n, ok := tok.(json.Number)
	if !ok {
		return errNotCovered
	}
	if v.CanInt() {
		i, err := strconv.ParseInt(string(n), 10, v.Type().Bits())
		if err != nil {
			return errNotCovered
		}
		v.SetInt(i)
		return nil
	}
	u, err := strconv.ParseUint(string(n), 10, v.Type().Bits())
	if err != nil {
		return errNotCovered
	}
	v.SetUint(u)
	return nil
}
