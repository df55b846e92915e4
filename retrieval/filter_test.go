package retrieval_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

func cmp(op, key string, v any) *retrieval.Filter {
	return &retrieval.Filter{Type: op, Key: key, Value: v}
}

func TestFilterValidate(t *testing.T) {
	deep := cmp("eq", "a", "b")
	for range retrieval.MaxFilterDepth + 1 {
		deep = &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{deep}}
	}
	wide := &retrieval.Filter{Type: "or"}
	for range retrieval.MaxFilterNodes {
		wide.Filters = append(wide.Filters, cmp("eq", "a", "b"))
	}
	tests := []struct {
		name string
		f    *retrieval.Filter
		ok   bool
	}{
		{"eq string", cmp("eq", "a", "b"), true},
		{"ne bool", cmp("ne", "a", true), true},
		{"gt number", cmp("gt", "a", 1.5), true},
		{"lte json number", cmp("lte", "a", json.Number("3")), true},
		{"bad json number", cmp("lte", "a", json.Number("x")), false},
		{"gt bool", cmp("gt", "a", true), false},
		{"no key", cmp("eq", "", "b"), false},
		{"nil value", cmp("eq", "a", nil), false},
		{"list value", cmp("eq", "a", []any{"b"}), false},
		{"int value", cmp("eq", "a", 3), false},
		{"unknown type", cmp("like", "a", "b"), false},
		{"and", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{cmp("eq", "a", "b"), cmp("gt", "n", 1.0)}}, true},
		{"empty or", &retrieval.Filter{Type: "or"}, false},
		{"nil child", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{nil}}, false},
		{"bad child", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{cmp("eq", "", "b")}}, false},
		{"too deep", deep, false},
		{"too wide", wide, false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
		})
	}
}

func TestFilterMatch(t *testing.T) {
	attrs := map[string]any{"s": "m", "n": 5.0, "i": 5, "f32": float32(5), "b": true, "j": json.Number("5")}
	tests := []struct {
		name string
		f    *retrieval.Filter
		want bool
	}{
		{"nil matches", nil, true},
		{"eq string", cmp("eq", "s", "m"), true},
		{"ne string", cmp("ne", "s", "m"), false},
		{"lt string", cmp("lt", "s", "n"), true},
		{"gt string", cmp("gt", "s", "n"), false},
		{"gte string equal", cmp("gte", "s", "m"), true},
		{"eq number", cmp("eq", "n", 5.0), true},
		{"gt number", cmp("gt", "n", 4.0), true},
		{"gt number equal", cmp("gt", "n", 5.0), false},
		{"gte number", cmp("gte", "n", 5.0), true},
		{"lt number", cmp("lt", "n", 5.0), false},
		{"lte number", cmp("lte", "n", 5.0), true},
		{"int attribute", cmp("eq", "i", 5.0), true},
		{"float32 attribute", cmp("gte", "f32", 5.0), true},
		{"json number attribute", cmp("lt", "j", 6.0), true},
		{"json number value", cmp("eq", "n", json.Number("5")), true},
		{"eq bool", cmp("eq", "b", true), true},
		{"ne bool", cmp("ne", "b", false), true},
		{"number vs string", cmp("eq", "n", "5"), false},
		{"string vs number", cmp("eq", "s", 5.0), false},
		{"bool vs string", cmp("eq", "b", "true"), false},
		{"ne across kinds", cmp("ne", "n", "5"), false},
		{"missing key", cmp("eq", "zz", "m"), false},
		{"ne missing key", cmp("ne", "zz", "m"), false},
		{"and true", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{cmp("eq", "s", "m"), cmp("gt", "n", 1.0)}}, true},
		{"and false", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{cmp("eq", "s", "m"), cmp("gt", "n", 9.0)}}, false},
		{"or true", &retrieval.Filter{Type: "or", Filters: []*retrieval.Filter{cmp("eq", "s", "x"), cmp("gt", "n", 1.0)}}, true},
		{"or false", &retrieval.Filter{Type: "or", Filters: []*retrieval.Filter{cmp("eq", "s", "x"), cmp("gt", "n", 9.0)}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.f.Match(attrs))
		})
	}
}

// FuzzFilter decodes filters from JSON as a search request would and
// checks that validation and matching never panic.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`{"type":"eq","key":"a","value":"b"}`,
		`{"type":"and","filters":[{"type":"gt","key":"n","value":1},{"type":"ne","key":"b","value":true}]}`,
		`{"type":"or","filters":[{"type":"or","filters":[]}]}`,
		`{"type":"lte","key":"n","value":null}`,
		`{"type":"and","filters":[null]}`,
	} {
		f.Add(s)
	}
	attrs := map[string]any{"a": "b", "n": 2.0, "b": false}
	f.Fuzz(func(t *testing.T, s string) {
		var flt retrieval.Filter
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if dec.Decode(&flt) != nil {
			return
		}
		if flt.Validate() == nil {
			flt.Match(attrs)
		}
	})
}
