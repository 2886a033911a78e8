package jsonlite

import (
	"fmt"
	"reflect"
	"strings"
)

// tagged is a struct field as encoding/json sees it.
type tagged struct {
	index     int
	name      string // from the tag, else the Go name
	omitEmpty bool
	omitZero  bool
}

// jsonFields lists t's exported fields that encoding/json encodes, in order.
// An embedded struct (encoding/json flattens it) or an option other than
// omitempty and omitzero (",string") is not covered: an error.
func jsonFields(t reflect.Type) ([]tagged, error) {
	var fs []tagged
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil, fmt.Errorf("jsonlite: %s embeds %s", t, sf.Type)
		}
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		f := tagged{index: i, name: name}
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "":
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero = true
			default:
				return nil, fmt.Errorf("jsonlite: %s.%s: option %q", t, sf.Name, opt)
			}
		}
		fs = append(fs, f)
	}
	return fs, nil
}
