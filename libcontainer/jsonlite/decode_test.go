package jsonlite_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/ocirun/ocirun/libcontainer/jsonlite"
	"github.com/ocirun/ocirun/libcontainer/jsonlite/jsonlitetest"
)

// unmarshalBoth decodes data with Unmarshal and with json.Unmarshal into
// fresh specs and fails unless the values and the errors are the same.
func unmarshalBoth(t *testing.T, data []byte) {
	t.Helper()
	var ours, theirs specs.Spec
	oerr := jsonlite.Unmarshal(data, &ours)
	terr := json.Unmarshal(data, &theirs)
	if (oerr == nil) != (terr == nil) || (oerr != nil && oerr.Error() != terr.Error()) {
		t.Fatalf("%s\nerrors: %v\nwant:   %v", data, oerr, terr)
	}
	if !reflect.DeepEqual(ours, theirs) {
		t.Fatalf("%s\ndecoded: %+v\nwant:    %+v", data, ours, theirs)
	}
}

// Every field of runtime-spec's config, at random, a thousand times.
func TestUnmarshalSpecLikeEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		var spec specs.Spec
		jsonlitetest.Fill(r, reflect.ValueOf(&spec).Elem())
		data, err := json.Marshal(&spec)
		if err != nil {
			t.Fatal(err)
		}
		unmarshalBoth(t, data)
	}
}

// What it leaves to encoding/json comes out as encoding/json makes it,
// errors included; and what it takes itself, too.
func TestUnmarshalEdgesLikeEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true}}`,
		`{"ociVersion":"1.0.2","unknown":{"a":[1,{"b":null}],"c":"d"},"hostname":"h"}`,
		`{"OCIVERSION":"1.0.2"}`,                      // another case
		`{"hoſtname":"evil"}`,                         // ſ folds to s
		`{"hostname":"good","hoſtname":"evil"}`,       // and wins
		`{"linux":{"maſkedPaths":["/proc/kcore"]}}`,   // nested
		`{"\u212aernel":1,"hostname":"h"}`,            // the Kelvin sign, unknown
		`{"hostnamé":"x"}`,                            // unknown, not ASCII
		`{"ociversion":"1.0.2","ociVersion":"1.0.3"}`, // both
		`{"hostname":"a","hostname":"b"}`,             // twice
		`{"annotations":{"a":"1","a":"2"}}`,           // a key twice
		`{"process":{"user":{"uid":-1}}}`,             // out of range
		`{"process":{"user":{"uid":1.5}}}`,            // not an integer
		`{"process":{"user":{"uid":1e3}}}`,            // an exponent
		`{"process":{"terminal":"yes"}}`,              // wrong type
		`{"process":{"args":"sh"}}`,                   // wrong type
		`{"process":null,"root":null,"mounts":null}`,  // nulls
		`{"mounts":[],"annotations":{}}`,              // empty, not nil
		`{"mounts":[null,{"destination":"/x"}]}`,      // a null element
		`{"windows":{"credentialSpec":{"a":1}}}`,      // an interface
		`{"hostname":"\u00e9\ud83d\udcbe\n\"\\"}`,     // escapes
		"{\"hostname\":\"\xff\xfe\"}",                 // not UTF-8
		`{"hostname":"a"} {"hostname":"b"}`,           // two values
		`{"hostname":"a"`,                             // cut short
		`[]`, `null`, `"x"`, ``,
		`{"linux":{"resources":{"memory":{"limit":9223372036854775807,"swap":-9223372036854775808}}}}`,
		`{"linux":{"sysctl":{"net.ipv4.ip_forward":"1"},"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}}`,
	} {
		unmarshalBoth(t, []byte(in))
	}
}

// Whatever the input, Unmarshal's result and error are json.Unmarshal's.
// `go test` runs the seeds; `go test -fuzz FuzzUnmarshalLikeEncodingJSON`
// searches further.
func FuzzUnmarshalLikeEncodingJSON(f *testing.F) {
	for _, seed := range []string{`{"ociVersion":"1.0.2","process":{"args":["sh"],"user":{"uid":0}}}`,
		`{"hoſtname":"x"}`, `{"HOSTNAME":"x","hostname":"y"}`, `{"linux":{"resources":{"devices":[{"allow":false}]}}}`,
		`{"mounts":[{"destination":"/proc","options":null}]}`, `{"annotations":{"a":"b"}}`, `{"x":[[[[{}]]]]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		unmarshalBoth(t, data)
	})
}
