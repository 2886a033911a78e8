// Package jsonlitetest checks, for the tests of the types jsonlite
// encodes, that its encoding decodes to what encoding/json's does.
package jsonlitetest

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ocirun/ocirun/libcontainer/jsonlite"
)

// Fill sets every exported field reachable from v at random: zero values,
// nil and empty slices and maps, strings that need escaping or are not
// UTF-8.
func Fill(r *rand.Rand, v reflect.Value) {
	if r.IntN(5) == 0 && v.Kind() != reflect.Struct {
		return // the zero value, for omitempty
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(r.Int64() >> (64 - v.Type().Bits()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.Uint64() >> (64 - v.Type().Bits()))
	case reflect.String:
		v.SetString(randomString(r))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		Fill(r, p.Elem())
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), r.IntN(4), 4) // sometimes empty, not nil
		for i := range s.Len() {
			Fill(r, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range r.IntN(4) {
			e := reflect.New(v.Type().Elem()).Elem()
			Fill(r, e)
			m.SetMapIndex(reflect.ValueOf(randomString(r)), e)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(1<<35), r.Int64N(1e9)).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				Fill(r, v.Field(i))
			}
		}
	}
}

func randomString(r *rand.Rand) string {
	pieces := []string{"", "a", "/dev/null", `"`, `\`, "\n", "\t", "\x01", "\x1f", "<&>", "é", "\u2028", "💾", "\xff", "\xe2\x82"}
	s := ""
	for range r.IntN(5) {
		s += pieces[r.IntN(len(pieces))]
	}
	return s
}

// Equivalent fails unless what Marshal makes of v decodes, with
// encoding/json, to what encoding/json's own encoding of v decodes to.
func Equivalent(t *testing.T, v any) {
	t.Helper()
	ours, err := jsonlite.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	theirs, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	a := reflect.New(reflect.TypeOf(v).Elem())
	b := reflect.New(reflect.TypeOf(v).Elem())
	if err := json.Unmarshal(ours, a.Interface()); err != nil {
		t.Fatalf("decode %s: %v", ours, err)
	}
	if err := json.Unmarshal(theirs, b.Interface()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		t.Fatalf("ours:   %s\ntheirs: %s", ours, theirs)
	}
}
