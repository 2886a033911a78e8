package jsonlite_test

import (
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
		"named string key": map[testText]int{},
	} {
		if out, err := jsonlite.Marshal(v); err == nil {
			t.Errorf("%s: Marshal made %s", name, out)
		}
	}
}

type testText string

func (t testText) MarshalText() ([]byte, error) { return []byte(t), nil }
