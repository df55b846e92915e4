package weaviate

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/protobuf/proto"

	"github.com/ragway/ragway/retrieval"
)

var (
	classNameRE = regexp.MustCompile(`^[A-Z][_0-9A-Za-z]*$`)
	attrPropRE  = regexp.MustCompile(`^a[snb]_[0-9a-f]{24}$`)
)

func TestClassName(t *testing.T) {
	tests := []struct{ tenant, collection string }{
		{"t", "c"}, {"", ""}, {"ab", "c"}, {"a", "bc"}, {"Ünïcode", "日本語"}, {`"; DROP`, "{Get}"}, {"a\x00b", "c"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		n := className("Ragway", tc.tenant, tc.collection)
		require.Regexp(t, classNameRE, n)
		require.True(t, isClassName("Ragway", n))
		require.False(t, isClassName("Other", n))
		require.False(t, seen[n], "%q/%q collides", tc.tenant, tc.collection)
		seen[n] = true
		require.Equal(t, n, className("Ragway", tc.tenant, tc.collection), "deterministic")
	}
	require.False(t, isClassName("Ragway", "Ragway_xyz"))
	require.False(t, isClassName("Ragway", "RagwayX_"+strings.Repeat("a", 32)))
}

func TestOptionsPrefix(t *testing.T) {
	for prefix, ok := range map[string]bool{"": true, "Ragway": true, "R2": true, "ragway": false, "Rag_way": false, "Rag-way": false, "R" + strings.Repeat("a", 64): false} {
		_, err := Options{ClassPrefix: prefix}.withDefaults()
		require.Equal(t, ok, err == nil, "prefix %q", prefix)
	}
	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	require.InDelta(t, DefaultAlpha, o.Alpha, 0)
	o, err = Options{Alpha: -1}.withDefaults()
	require.NoError(t, err)
	require.InDelta(t, 0, o.Alpha, 0)
}

func TestEncodeTextKeepsOrder(t *testing.T) {
	vals := []string{"", " ", " x ", "a", "ab", "b", "doc1", "doc10", "doc2", "\x00", "\xff", "é"}
	for _, a := range vals {
		d, err := decodeText(encodeText(a))
		require.NoError(t, err)
		require.Equal(t, a, d)
		require.Equal(t, strings.TrimSpace(encodeText(a)), encodeText(a), "field tokenization trims nothing")
		for _, b := range vals {
			require.Equal(t, strings.Compare(a, b), strings.Compare(encodeText(a), encodeText(b)), "%q vs %q", a, b)
		}
	}
	_, err := decodeText("zz")
	require.Error(t, err)
}

func TestObjectID(t *testing.T) {
	id := objectID("f", "c1")
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
	require.Equal(t, id, objectID("f", "c1"))
	require.NotEqual(t, id, objectID("g", "c1"), "the same chunk id in another file is another object")
	require.NotEqual(t, objectID("f1", "c"), objectID("f", "1c"))
}

func cmpf(op, key string, v any) *retrieval.Filter {
	return &retrieval.Filter{Type: op, Key: key, Value: v}
}

func prop(kind byte, key string) *pb.FilterTarget { return target(attrProp(kind, key)) }

func TestTranslate(t *testing.T) {
	props := map[string]string{
		attrProp(kindString, "lang"): "text",
		attrProp(kindNumber, "n"):    "number",
		attrProp(kindBool, "ok"):     "boolean",
	}
	eqLang := &pb.Filters{Operator: pb.Filters_OPERATOR_EQUAL, Target: prop(kindString, "lang"), TestValue: &pb.Filters_ValueText{ValueText: encodeText("en")}}
	gtN := &pb.Filters{Operator: pb.Filters_OPERATOR_GREATER_THAN, Target: prop(kindNumber, "n"), TestValue: &pb.Filters_ValueNumber{ValueNumber: 2}}
	tests := []struct {
		name string
		f    *retrieval.Filter
		want *pb.Filters
		none bool
	}{
		{"nil", nil, nil, false},
		{"eq string", cmpf("eq", "lang", "en"), eqLang, false},
		{"gt number", cmpf("gt", "n", 2.0), gtN, false},
		{"json number", cmpf("gt", "n", json.Number("2")), gtN, false},
		{"ne number is lt or gt", cmpf("ne", "n", 3.0), &pb.Filters{Operator: pb.Filters_OPERATOR_OR, Filters: []*pb.Filters{
			{Operator: pb.Filters_OPERATOR_LESS_THAN, Target: prop(kindNumber, "n"), TestValue: &pb.Filters_ValueNumber{ValueNumber: 3}},
			{Operator: pb.Filters_OPERATOR_GREATER_THAN, Target: prop(kindNumber, "n"), TestValue: &pb.Filters_ValueNumber{ValueNumber: 3}},
		}}, false},
		{"ne bool is eq not", cmpf("ne", "ok", true), &pb.Filters{Operator: pb.Filters_OPERATOR_EQUAL, Target: prop(kindBool, "ok"), TestValue: &pb.Filters_ValueBoolean{ValueBoolean: false}}, false},
		{"missing key", cmpf("eq", "nope", "x"), nil, true},
		{"kind mismatch", cmpf("eq", "n", "3"), nil, true},
		{"and with a missing key", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{cmpf("eq", "lang", "en"), cmpf("eq", "nope", 1.0)}}, nil, true},
		{"or drops a missing key", &retrieval.Filter{Type: "or", Filters: []*retrieval.Filter{cmpf("eq", "lang", "en"), cmpf("eq", "nope", 1.0)}}, eqLang, false},
		{"or of missing keys", &retrieval.Filter{Type: "or", Filters: []*retrieval.Filter{cmpf("eq", "a", 1.0), cmpf("eq", "b", 1.0)}}, nil, true},
		{"and", &retrieval.Filter{Type: "and", Filters: []*retrieval.Filter{cmpf("eq", "lang", "en"), cmpf("gt", "n", 2.0)}},
			&pb.Filters{Operator: pb.Filters_OPERATOR_AND, Filters: []*pb.Filters{eqLang, gtN}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, none, err := translate(tc.f, props)
			require.NoError(t, err)
			require.Equal(t, tc.none, none)
			require.Equal(t, tc.want.String(), got.String())
		})
	}
	for _, f := range []*retrieval.Filter{cmpf("like", "a", "b"), cmpf("gt", "ok", true), cmpf("eq", "n", []any{1}), {Type: "and"}} {
		_, _, err := translate(f, props)
		require.ErrorIs(t, err, retrieval.ErrInvalidQuery, "%+v", f)
	}
}

func TestResultMapping(t *testing.T) {
	fields := map[string]*pb.Value{
		propChunkID:  {Kind: &pb.Value_TextValue{TextValue: "f-0-x"}},
		propFileID:   {Kind: &pb.Value_TextValue{TextValue: "f"}},
		propFilename: {Kind: &pb.Value_TextValue{TextValue: "f.txt"}},
		propIndex:    {Kind: &pb.Value_IntValue{IntValue: 3}},
		propText:     {Kind: &pb.Value_TextValue{TextValue: "hello"}},
		propTitle:    {Kind: &pb.Value_TextValue{TextValue: "T"}},
		propHeading:  {Kind: &pb.Value_TextValue{TextValue: "H"}},
		propPage:     {Kind: &pb.Value_NumberValue{NumberValue: 7}},
		propAttrs:    {Kind: &pb.Value_TextValue{TextValue: `{"k":"v","n":2.5,"b":true}`}},
	}
	r := &pb.SearchResult{
		Properties: &pb.PropertiesResult{NonRefProps: &pb.Properties{Fields: fields}},
		Metadata:   &pb.MetadataResult{Distance: 0.25, Score: 4.5, VectorBytes: vectorBytes([]float32{1, -2.5})},
	}
	want := retrieval.Chunk{ID: "f-0-x", FileID: "f", Filename: "f.txt", Index: 3, Text: "hello", Title: "T", Heading: "H", Page: 7,
		Attributes: map[string]any{"k": "v", "n": 2.5, "b": true}}
	res, err := toResult(r, true)
	require.NoError(t, err)
	require.Equal(t, want, res.Chunk)
	require.InDelta(t, 0.75, res.Score, 1e-6, "vector score is 1 - distance")
	res, err = toResult(r, false)
	require.NoError(t, err)
	require.InDelta(t, 4.5, res.Score, 1e-6)
	require.Equal(t, []float32{1, -2.5}, resultVector(r.GetMetadata()))
	named := &pb.MetadataResult{Vectors: []*pb.Vectors{{Name: "v", VectorBytes: vectorBytes([]float32{0.5}), Type: pb.Vectors_VECTOR_TYPE_SINGLE_FP32}}}
	require.Equal(t, []float32{0.5}, resultVector(named))
	require.Nil(t, resultVector(&pb.MetadataResult{}))

	fields[propAttrs] = &pb.Value{Kind: &pb.Value_TextValue{TextValue: "{bad"}}
	_, err = toResult(r, false)
	require.Error(t, err)
	delete(fields, propAttrs)
	res, err = toResult(r, false)
	require.NoError(t, err)
	require.Nil(t, res.Attributes)
}

func TestRequestShape(t *testing.T) {
	s := &Store{opts: Options{Alpha: 0.25}}
	vec := []float32{1, -2.5}
	wantVectors := []*pb.Vectors{{VectorBytes: vectorBytes(vec), Type: pb.Vectors_VECTOR_TYPE_SINGLE_FP32}}
	analysed := &class{name: "Cls", meta: classMeta{Analysis: analysisVersion}, props: map[string]string{propText: "text", propTerms: "text"}}
	old := &class{name: "Cls", props: map[string]string{propText: "text"}}
	tests := []struct {
		name   string
		c      *class
		q      retrieval.Query
		mode   retrieval.Mode
		check  func(t *testing.T, req *pb.SearchRequest)
		isNone bool
	}{
		{"vector", analysed, retrieval.Query{K: 3, Vector: vec, Text: "x"}, retrieval.ModeVector, func(t *testing.T, req *pb.SearchRequest) {
			require.Nil(t, req.GetHybridSearch())
			require.Nil(t, req.GetBm25Search())
			requireVectors(t, wantVectors, req.GetNearVector().GetVectors())
		}, false},
		{"hybrid", analysed, retrieval.Query{K: 3, Vector: vec, Text: "The Running CATS"}, retrieval.ModeHybrid, func(t *testing.T, req *pb.SearchRequest) {
			require.Nil(t, req.GetNearVector())
			h := req.GetHybridSearch()
			require.Equal(t, "run cat", h.GetQuery())
			require.Equal(t, []string{propTerms}, h.GetProperties())
			require.InDelta(t, 0.25, h.GetAlpha(), 0)
			require.Equal(t, pb.Hybrid_FUSION_TYPE_RELATIVE_SCORE, h.GetFusionType())
			requireVectors(t, wantVectors, h.GetVectors())
		}, false},
		{"hybrid without text", analysed, retrieval.Query{K: 3, Vector: vec}, retrieval.ModeHybrid, func(t *testing.T, req *pb.SearchRequest) {
			require.Nil(t, req.GetHybridSearch())
			requireVectors(t, wantVectors, req.GetNearVector().GetVectors())
		}, false},
		{"hybrid with only stopwords", analysed, retrieval.Query{K: 3, Vector: vec, Text: "the of"}, retrieval.ModeHybrid, func(t *testing.T, req *pb.SearchRequest) {
			require.Nil(t, req.GetHybridSearch())
			requireVectors(t, wantVectors, req.GetNearVector().GetVectors())
		}, false},
		{"lexical", analysed, retrieval.Query{K: 3, Vector: vec, Text: "Studies, studied"}, retrieval.ModeLexical, func(t *testing.T, req *pb.SearchRequest) {
			require.Nil(t, req.GetNearVector())
			require.Nil(t, req.GetHybridSearch())
			require.Equal(t, "studi studi", req.GetBm25Search().GetQuery())
			require.Equal(t, []string{propTerms}, req.GetBm25Search().GetProperties())
		}, false},
		{"lexical without text", analysed, retrieval.Query{K: 3, Vector: vec}, retrieval.ModeLexical, nil, true},
		{"lexical with only stopwords", analysed, retrieval.Query{K: 3, Text: "The of"}, retrieval.ModeLexical, nil, true},
		{"lexical on a class made before terms", old, retrieval.Query{K: 3, Text: "The Studies"}, retrieval.ModeLexical, func(t *testing.T, req *pb.SearchRequest) {
			require.Equal(t, "The Studies", req.GetBm25Search().GetQuery())
			require.Equal(t, []string{propText}, req.GetBm25Search().GetProperties())
		}, false},
		{"hybrid on a class made before terms", old, retrieval.Query{K: 3, Vector: vec, Text: "The Studies"}, retrieval.ModeHybrid, func(t *testing.T, req *pb.SearchRequest) {
			require.Equal(t, "The Studies", req.GetHybridSearch().GetQuery())
			require.Equal(t, []string{propText}, req.GetHybridSearch().GetProperties())
		}, false},
		{"terms added to an old class are not read", &class{name: "Cls", props: analysed.props}, retrieval.Query{K: 3, Text: "Studies"}, retrieval.ModeLexical, func(t *testing.T, req *pb.SearchRequest) {
			require.Equal(t, []string{propText}, req.GetBm25Search().GetProperties())
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := s.request(tc.c, tc.q, tc.mode, nil)
			if tc.isNone {
				require.Nil(t, req)
				return
			}
			require.NotNil(t, req)
			require.True(t, req.GetUses_127Api())
			require.Equal(t, "Cls", req.GetCollection())
			require.Equal(t, uint32(3), req.GetLimit())
			require.Equal(t, chunkProps, req.GetProperties().GetNonRefProperties())
			tc.check(t, req)
		})
	}
}

func requireVectors(t *testing.T, want, got []*pb.Vectors) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.True(t, proto.Equal(want[i], got[i]), "vector %d: want %v, got %v", i, want[i], got[i])
	}
}

func TestToObject(t *testing.T) {
	ch := retrieval.Chunk{ID: "c", FileID: "f", Index: 2, Text: "The Running  CATS, of studies!", Vector: []float32{0.5, 1},
		Attributes: map[string]any{"s": " a ", "n": 3.0, "b": false}}
	o, err := toObject("Cls", "f", ch)
	require.NoError(t, err)
	require.Equal(t, objectID("f", "c"), o.GetUuid())
	require.Equal(t, []float32{0.5, 1}, vectorFromBytes(o.GetVectorBytes()))
	got := o.GetProperties().GetNonRefProperties().AsMap()
	require.Equal(t, encodeText(" a "), got[attrProp(kindString, "s")])
	require.InDelta(t, 3.0, got[attrProp(kindNumber, "n")], 0)
	require.Equal(t, false, got[attrProp(kindBool, "b")])
	require.Equal(t, encodeText("f"), got[propFileKey])
	require.Equal(t, ch.Text, got[propText], "text is stored as given")
	require.Equal(t, "run cat studi", got[propTerms], "terms are analysed")
	var attrs map[string]any
	require.NoError(t, json.Unmarshal([]byte(got[propAttrs].(string)), &attrs))
	require.Equal(t, ch.Attributes, attrs)
}

func TestCheckChunks(t *testing.T) {
	ok := retrieval.Chunk{ID: "a", Vector: []float32{1, 2}}
	tests := map[string][]retrieval.Chunk{
		"no id":        {{Vector: []float32{1}}},
		"duplicate id": {ok, ok},
		"sizes differ": {ok, {ID: "b", Vector: []float32{1}}},
		"no vector":    {{ID: "a"}},
		"not finite":   {{ID: "a", Vector: []float32{float32(math.NaN())}}},
	}
	for name, chunks := range tests {
		_, err := checkChunks(chunks)
		require.ErrorIs(t, err, retrieval.ErrInvalidQuery, name)
	}
	dim, err := checkChunks([]retrieval.Chunk{ok})
	require.NoError(t, err)
	require.Equal(t, 2, dim)
	_, err = attrKinds([]retrieval.Chunk{{ID: "a", Attributes: map[string]any{"x": []any{1}}}})
	require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
}

// FuzzTranslate checks that any filter key or value becomes only hashed
// property names and typed values, and never panics.
func FuzzTranslate(f *testing.F) {
	f.Add("eq", "lang", "en", 1.0, false)
	f.Add("ne", `k"} operator: Or operands: [{path: ["_id"]`, `" } ) { Get { x } } #`, -3.5, true)
	f.Add("lt", "_id", " spaced ", 0.0, false)
	f.Add("gte", "", "\xff\x00", 1e308, true)
	f.Fuzz(func(t *testing.T, op, key, s string, n float64, useNumber bool) {
		var v any = s
		kind := kindString
		if useNumber {
			v, kind = n, kindNumber
		}
		flt := &retrieval.Filter{Type: op, Key: key, Value: v}
		props := map[string]string{attrProp(kindString, key): "text", attrProp(kindNumber, key): "number"}
		out, none, err := translate(flt, props)
		if flt.Validate() != nil {
			return
		}
		require.NoError(t, err)
		if none {
			return
		}
		var walk func(f *pb.Filters)
		walk = func(f *pb.Filters) {
			if len(f.GetFilters()) > 0 {
				for _, c := range f.GetFilters() {
					walk(c)
				}
				return
			}
			p := f.GetTarget().GetProperty()
			require.Regexp(t, attrPropRE, p)
			require.Equal(t, attrProp(kind, key), p)
			if useNumber {
				require.Equal(t, n, f.GetValueNumber())
			} else {
				d, err := decodeText(f.GetValueText())
				require.NoError(t, err)
				require.Equal(t, s, d)
			}
		}
		walk(out)
	})
}
