package milvus

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

func cmpF(op, key string, v any) *retrieval.Filter {
	return &retrieval.Filter{Type: op, Key: key, Value: v}
}

func TestFilterExprInline(t *testing.T) {
	tests := []struct {
		name string
		f    *retrieval.Filter
		want string
	}{
		{"eq string", cmpF("eq", "lang", "en"), `attributes["lang"] == "en"`},
		{"eq integral number is a float", cmpF("eq", "n", 3.0), `attributes["n"] == 3.0`},
		{"negative fraction", cmpF("lt", "n", -2.5), `attributes["n"] < -2.5`},
		{"large number", cmpF("gte", "n", 1e21), `attributes["n"] >= 1e+21`},
		{"json number", cmpF("lte", "n", json.Number("7")), `attributes["n"] <= 7.0`},
		{"ne number", cmpF("ne", "n", 3.0), `(attributes["n"] < 3.0 or attributes["n"] > 3.0)`},
		{"ne string", cmpF("ne", "s", "x"), `(attributes["s"] < "x" or attributes["s"] > "x")`},
		{"eq bool", cmpF("eq", "ok", true), `attributes["ok"] == true`},
		{"ne bool", cmpF("ne", "ok", true), `attributes["ok"] == false`},
		{"quote in value", cmpF("eq", "s", `a"b`), `attributes["s"] == "a\"b"`},
		{"backslash in value", cmpF("eq", "s", `a\b`), `attributes["s"] == "a\\b"`},
		{"newline in value", cmpF("eq", "s", "a\nb"), `attributes["s"] == "a\nb"`},
		{"unicode value", cmpF("eq", "s", "héllo 世界"), `attributes["s"] == "héllo 世界"`},
		{"nul in value", cmpF("eq", "s", "a\x00b"), `attributes["s"] == "a\u0000b"`},
		{"injection in value", cmpF("eq", "s", `x" or 1==1 or "`), `attributes["s"] == "x\" or 1==1 or \""`},
		{"unicode key", cmpF("eq", "clé", "v"), `attributes["clé"] == "v"`},
		{"key with slash and tilde", cmpF("eq", "a/b~0", "v"), `attributes["a/b~0"] == "v"`},
		{"key with single quote", cmpF("eq", "it's", "v"), `attributes["it's"] == "v"`},
		{"and", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{cmpF("eq", "a", 1.0), cmpF("eq", "b", "x")}},
			`(attributes["a"] == 1.0 and attributes["b"] == "x")`},
		{"nested or", &retrieval.Filter{Type: "or", Filters: []*retrieval.Filter{cmpF("eq", "a", 1.0),
			{Type: "and", Filters: []*retrieval.Filter{cmpF("gt", "b", 0.5), cmpF("ne", "c", false)}}}},
			`(attributes["a"] == 1.0 or (attributes["b"] > 0.5 and attributes["c"] == true))`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := filterExpr(tc.f, false)
			require.NoError(t, err)
			require.Equal(t, tc.want, e.text)
			require.Empty(t, e.params)
		})
	}
}

func TestFilterExprTemplates(t *testing.T) {
	f := &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{
		cmpF("eq", "s", `"] or 1==1 or attributes["x`),
		cmpF("ne", "n", 2.0),
		cmpF("ne", "b", false),
	}}
	e, err := filterExpr(f, true)
	require.NoError(t, err)
	require.Equal(t, `(attributes["s"] == {p0} and (attributes["n"] < {p1} or attributes["n"] > {p2}) and attributes["b"] == {p3})`, e.text)
	require.Equal(t, map[string]any{"p0": `"] or 1==1 or attributes["x`, "p1": 2.0, "p2": 2.0, "p3": true}, e.params)
	none, err := filterExpr(nil, true)
	require.NoError(t, err)
	require.Empty(t, none.text)
}

func TestFilterExprRefuses(t *testing.T) {
	tests := []struct {
		name string
		f    *retrieval.Filter
	}{
		{"quote in key", cmpF("eq", `a"b`, "v")},
		{"key injection", cmpF("eq", `x"] or 1==1 or attributes["y`, "v")},
		{"backslash in key", cmpF("eq", `a\b`, "v")},
		{"newline in key", cmpF("eq", "a\nb", "v")},
		{"tab in key", cmpF("eq", "a\tb", "v")},
		{"line separator in key", cmpF("eq", "a\u2028b", "v")},
		{"path split in key", cmpF("eq", "a][b", "v")},
		{"invalid utf-8 key", cmpF("eq", "a\xffb", "v")},
		{"long key", cmpF("eq", strings.Repeat("k", maxKeyBytes+1), "v")},
		{"invalid utf-8 value", cmpF("eq", "k", "a\xffb")},
		{"NaN", cmpF("eq", "k", math.NaN())},
		{"infinity", cmpF("lt", "k", math.Inf(1))},
		{"json NaN", cmpF("eq", "k", json.Number("NaN"))},
		{"bool ordered", cmpF("gt", "k", true)},
		{"unknown op", cmpF("like", "k", "v")},
		{"no key", cmpF("eq", "", "v")},
		{"bad value", cmpF("eq", "k", []any{1})},
		{"empty and", &retrieval.Filter{Type: "and"}},
		{"bad child", &retrieval.Filter{Type: "or", Filters: []*retrieval.Filter{cmpF("eq", "ok", "v"), cmpF("eq", `b"`, "v")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, templates := range []bool{false, true} {
				_, err := filterExpr(tc.f, templates)
				require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
			}
		})
	}
}

func TestHelperExprs(t *testing.T) {
	e, err := fileExpr(`f"1\`)
	require.NoError(t, err)
	require.Equal(t, `file_id == "f\"1\\"`, e)
	_, err = fileExpr("\xff")
	require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
	require.Equal(t, `pk in ["ab","cd"]`, pkListExpr([]string{"ab", "cd"}))
	require.Equal(t, `(a) and (b)`, and("a", "", "b"))
	require.Empty(t, and("", ""))
}

// Hostile keys and values for the property test.
var (
	propKeys = []string{"a", "n", "s", "ok", "clé", "a/b", "~1", "it's", "[x", "y]",
		`q"k`, `b\k`, "t\tk", "x][y", `"] or 1==1 or attributes["a`}
	propStrings = []string{"", "a", "b", "doc1", "doc10", `a"b`, `a\b`, "a\nb", "é", "世界", "\u2028", "'", `" or ""=="`, "\x00"}
	propNumbers = []float64{0, math.Copysign(0, -1), 1, -1, 2.5, 3, 1e21, -1e-7, 123456789.125, math.MaxFloat64}
)

func randValue(r *rand.Rand) any {
	switch r.IntN(3) {
	case 0:
		return propStrings[r.IntN(len(propStrings))]
	case 1:
		return propNumbers[r.IntN(len(propNumbers))]
	}
	return r.IntN(2) == 0
}

func randFilter(r *rand.Rand, depth int) *retrieval.Filter {
	if depth > 0 && r.IntN(3) == 0 {
		f := &retrieval.Filter{Type: []string{"and", "or"}[r.IntN(2)]}
		for range 1 + r.IntN(3) {
			f.Filters = append(f.Filters, randFilter(r, depth-1))
		}
		return f
	}
	v := randValue(r)
	ops := []string{"eq", "ne", "gt", "gte", "lt", "lte"}
	if _, ok := v.(bool); ok {
		ops = ops[:2]
	}
	return cmpF(ops[r.IntN(len(ops))], propKeys[r.IntN(len(propKeys))], v)
}

func randAttrs(r *rand.Rand) map[string]any {
	m := map[string]any{}
	for range r.IntN(6) {
		m[propKeys[r.IntN(len(propKeys))]] = randValue(r)
	}
	return m
}

// keysOK reports whether every key of f is one filterExpr accepts.
func keysOK(f *retrieval.Filter) bool {
	if f.Type == "and" || f.Type == "or" {
		for _, c := range f.Filters {
			if !keysOK(c) {
				return false
			}
		}
		return true
	}
	return checkKey(f.Key) == nil
}

// TestFilterExprAgreesWithMatch evaluates the emitted expressions with
// Milvus's semantics over random attributes and checks they agree with
// retrieval.Filter.Match, in both value modes.
func TestFilterExprAgreesWithMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for i := range 3000 {
		f := randFilter(r, 3)
		for _, templates := range []bool{false, true} {
			e, err := filterExpr(f, templates)
			if !keysOK(f) {
				require.ErrorIs(t, err, retrieval.ErrInvalidQuery, "case %d", i)
				continue
			}
			require.NoError(t, err, "case %d", i)
			accepted++
			for range 5 {
				attrs := randAttrs(r)
				got, err := evalExpr(e, attrs)
				require.NoError(t, err, "case %d: %s", i, e.text)
				require.Equal(t, f.Match(attrs), got, "case %d: %s over %v", i, e.text, attrs)
			}
		}
	}
	require.Greater(t, accepted, 1000, "most random filters are expressible")
}

func FuzzFilterExpr(f *testing.F) {
	for _, seed := range []string{
		`{"type":"eq","key":"a","value":"b"}`,
		`{"type":"ne","key":"n","value":3}`,
		`{"type":"and","filters":[{"type":"gt","key":"x","value":1.5},{"type":"eq","key":"ok","value":true}]}`,
		`{"type":"eq","key":"\"] or 1==1 or attributes[\"a","value":"\" or \"\"==\""}`,
		`{"type":"or","filters":[{"type":"lt","key":"s","value":"a\\b\n"},{"type":"ne","key":"b","value":false}]}`,
	} {
		f.Add([]byte(seed), `{"a":"b","n":3,"ok":true,"s":"a"}`)
	}
	f.Fuzz(func(t *testing.T, filter []byte, attrs string) {
		var flt retrieval.Filter
		if json.Unmarshal(filter, &flt) != nil {
			return
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(attrs), &m)
		for _, templates := range []bool{false, true} {
			e, err := filterExpr(&flt, templates)
			if err != nil {
				require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
				continue
			}
			got, err := evalExpr(e, m)
			require.NoError(t, err, "expression %q", e.text)
			if onlyFloats(m) {
				require.Equal(t, flt.Match(m), got, "expression %q over %v", e.text, m)
			}
		}
	})
}

// onlyFloats reports whether attribute values are of the kinds the
// evaluator models (JSON decoding gives float64, string, bool, and also
// nested values, which Match and Milvus both treat as other kinds).
func onlyFloats(m map[string]any) bool {
	for _, v := range m {
		switch v.(type) {
		case float64, string, bool:
		default:
			return false
		}
	}
	return true
}
