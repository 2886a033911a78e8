package jsonlite_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ocirun/ocirun/libcontainer/configs"
	"github.com/ocirun/ocirun/libcontainer/jsonlite"
	"github.com/ocirun/ocirun/libcontainer/jsonlite/jsonlitetest"
)

// Every field of the config, at random, a thousand times.
func TestMarshalConfigLikeEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var cfg configs.Config
		jsonlitetest.Fill(r, reflect.ValueOf(&cfg).Elem())
		jsonlitetest.Equivalent(t, &cfg)
	}
	jsonlitetest.Equivalent(t, &configs.Config{})
}

// The kinds it does not cover are errors, for the callers' fallback.
func TestMarshalRefusesWhatItDoesNotCover(t *testing.T) {
	type embedded struct{ configs.IDMap }
	type stringOpt struct {
		N int `json:"n,string"`
	}
	for name, v := range map[string]any{
		"float":            struct{ F float64 }{1.5},
		"interface":        struct{ I any }{1},
		"bytes":            struct{ B []byte }{[]byte("x")},
		"embedded":         embedded{},
		"string option":    stringOpt{},
		"text marshaler":   struct{ T testText }{},
		"pointer receiver": struct{ P ptrJSON }{},
		"empty Encoded":    struct{ E jsonlite.Encoded }{jsonlite.Encoded{}},
		"named string key": map[testText]int{},
	} {
		if out, err := jsonlite.Marshal(v); err == nil {
			t.Errorf("%s: Marshal made %s", name, out)
		}
	}
}

type testText string

type ptrJSON struct{}

func (*ptrJSON) MarshalJSON() ([]byte, error) { return []byte("1"), nil }

func (t testText) MarshalText() ([]byte, error) { return []byte(t), nil }

// Encoded is written as it is, where a json.RawMessage is checked and
// compacted, and encoding/json reads and writes it as a json.RawMessage.
func TestEncodedAsIs(t *testing.T) {
	type doc struct {
		E jsonlite.Encoded `json:"e"`
		N jsonlite.Encoded `json:"n"`
		R json.RawMessage  `json:"r"`
	}
	in := doc{E: jsonlite.Encoded(`{"a": [1, 2]}`), R: json.RawMessage(`{"a": [1, 2]}`)}
	ours, err := jsonlite.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"e":{"a": [1, 2]},"n":null,"r":{"a":[1,2]}}`; string(ours) != want {
		t.Fatalf("Marshal made %s, want %s", ours, want)
	}
	theirs, err := json.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	var a, b doc
	if err := json.Unmarshal(ours, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(theirs, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(compact(t, a.E), compact(t, b.E)) || !bytes.Equal(compact(t, a.E), compact(t, in.R)) || a.N != nil && string(a.N) != "null" {
		t.Fatalf("decoded %s and %s (n %q), want %s", a.E, b.E, a.N, in.R)
	}
}

func compact(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return out.Bytes()
}
