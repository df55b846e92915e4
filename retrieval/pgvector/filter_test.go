package pgvector

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

func TestFilterSQL(t *testing.T) {
	hostile := `x') OR TRUE; DROP TABLE chunks; --"$1`
	tests := []struct {
		name     string
		f        *retrieval.Filter
		wantSQL  string
		wantArgs []any
	}{
		{"none", nil, "TRUE", []any{"base"}},
		{"eq string", &retrieval.Filter{Type: "eq", Key: "lang", Value: "en"},
			`(CASE WHEN jsonb_typeof(attributes -> $2::text) = 'string' THEN (attributes ->> $2::text)COLLATE "C" = $3::text END)`,
			[]any{"base", "lang", "en"}},
		{"gt number", &retrieval.Filter{Type: "gt", Key: "n", Value: 2.5},
			`(CASE WHEN jsonb_typeof(attributes -> $2::text) = 'number' THEN (attributes ->> $2::text)::float8 > $3::float8 END)`,
			[]any{"base", "n", 2.5}},
		{"json number", &retrieval.Filter{Type: "lte", Key: "n", Value: json.Number("7")},
			`(CASE WHEN jsonb_typeof(attributes -> $2::text) = 'number' THEN (attributes ->> $2::text)::float8 <= $3::float8 END)`,
			[]any{"base", "n", 7.0}},
		{"ne bool", &retrieval.Filter{Type: "ne", Key: "b", Value: true},
			`(CASE WHEN jsonb_typeof(attributes -> $2::text) = 'boolean' THEN (attributes ->> $2::text)::boolean <> $3::boolean END)`,
			[]any{"base", "b", true}},
		{"compound", &retrieval.Filter{Type: "or", Filters: []*retrieval.Filter{
			{Type: "eq", Key: "a", Value: "x"},
			{Type: "and", Filters: []*retrieval.Filter{{Type: "lt", Key: "b", Value: 1.0}, {Type: "gte", Key: "c", Value: 2.0}}},
		}},
			`((CASE WHEN jsonb_typeof(attributes -> $2::text) = 'string' THEN (attributes ->> $2::text)COLLATE "C" = $3::text END) OR ` +
				`((CASE WHEN jsonb_typeof(attributes -> $4::text) = 'number' THEN (attributes ->> $4::text)::float8 < $5::float8 END) AND ` +
				`(CASE WHEN jsonb_typeof(attributes -> $6::text) = 'number' THEN (attributes ->> $6::text)::float8 >= $7::float8 END)))`,
			[]any{"base", "a", "x", "b", 1.0, "c", 2.0}},
		{"hostile key and value stay parameters", &retrieval.Filter{Type: "eq", Key: hostile, Value: hostile},
			`(CASE WHEN jsonb_typeof(attributes -> $2::text) = 'string' THEN (attributes ->> $2::text)COLLATE "C" = $3::text END)`,
			[]any{"base", hostile, hostile}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sql, args, err := filterSQL(tc.f, []any{"base"})
			require.NoError(t, err)
			require.Equal(t, tc.wantSQL, sql)
			require.Equal(t, tc.wantArgs, args)
		})
	}
}

func TestFilterSQLRejects(t *testing.T) {
	for _, f := range []*retrieval.Filter{
		{Type: "like", Key: "a", Value: "b"},
		{Type: "gt", Key: "a", Value: true},
		{Type: "eq", Key: "a", Value: []any{1}},
		{Type: "eq", Key: "a", Value: json.Number("x")},
	} {
		_, _, err := filterSQL(f, nil)
		require.ErrorIs(t, err, retrieval.ErrInvalidQuery, "%+v", f)
	}
}

// FuzzFilterSQL checks that no key or value ever reaches the statement
// text: it holds only placeholders and fixed words.
func FuzzFilterSQL(f *testing.F) {
	f.Add("eq", "lang", "en", 1.0, false)
	f.Add("gt", `a'); DROP TABLE chunks; --`, `' OR '1'='1`, -3.5, true)
	f.Add("ne", `$1`, `"; SELECT pg_sleep(10); --`, 0.0, false)
	f.Fuzz(func(t *testing.T, op, key, s string, n float64, useNumber bool) {
		var v any = s
		if useNumber {
			v = n
		}
		flt := &retrieval.Filter{Type: op, Key: key, Value: v}
		if flt.Validate() != nil {
			return
		}
		sql, args, err := filterSQL(flt, nil)
		require.NoError(t, err)
		require.Len(t, args, 2)
		require.Equal(t, key, args[0])
		allowed := strings.NewReplacer("$1", "", "$2", "", "attributes", "", "jsonb_typeof", "", "CASE", "", "WHEN",
			"", "THEN", "", "END", "", "text", "", "float8", "", "boolean", "", "string", "", "number", "", "COLLATE", "", `"C"`, "")
		rest := allowed.Replace(sql)
		require.Empty(t, strings.Trim(rest, " ()-:>=<'"), "statement text %q", sql)
	})
}
