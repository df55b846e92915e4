package gateway

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest/service"
	"github.com/ragway/ragway/retrieval"
)

func TestDecodeSearch(t *testing.T) {
	tests := []struct {
		name, body string
		want       service.SearchRequest
		param      string // "" when valid
	}{
		{name: "string query", body: `{"query":"hello"}`,
			want: service.SearchRequest{Query: []string{"hello"}, MaxNumResults: 10, Mode: retrieval.ModeHybrid}},
		{name: "array query and options",
			body: `{"query":["a","b"],"max_num_results":5,"ranking_options":{"ranker":"auto","score_threshold":0.5},"mode":"lexical","rewrite_query":false}`,
			want: service.SearchRequest{Query: []string{"a", "b"}, MaxNumResults: 5, Ranker: "auto", ScoreThreshold: 0.5, Mode: retrieval.ModeLexical}},
		{name: "compound filter", body: `{"query":"q","filters":{"type":"and","filters":[{"type":"eq","key":"k","value":"v"},{"type":"gte","key":"n","value":2}]}}`,
			want: service.SearchRequest{Query: []string{"q"}, MaxNumResults: 10, Mode: retrieval.ModeHybrid, Filters: &retrieval.Filter{Type: "and",
				Filters: []*retrieval.Filter{{Type: "eq", Key: "k", Value: "v"}, {Type: "gte", Key: "n", Value: float64(2)}}}}},
		{name: "missing query", body: `{}`, param: "query"},
		{name: "empty query", body: `{"query":"  "}`, param: "query"},
		{name: "numeric query", body: `{"query":3}`, param: "query"},
		{name: "zero results", body: `{"query":"q","max_num_results":0}`, param: "max_num_results"},
		{name: "too many results", body: `{"query":"q","max_num_results":51}`, param: "max_num_results"},
		{name: "bad filter type", body: `{"query":"q","filters":{"type":"near"}}`, param: "filters"},
		{name: "filter value object", body: `{"query":"q","filters":{"type":"eq","key":"k","value":{}}}`, param: "filters"},
		{name: "filters not object", body: `{"query":"q","filters":[1]}`, param: "filters"},
		{name: "bad threshold", body: `{"query":"q","ranking_options":{"score_threshold":2}}`, param: "ranking_options.score_threshold"},
		{name: "bad ranker", body: `{"query":"q","ranking_options":{"ranker":"magic"}}`, param: "ranking_options.ranker"},
		{name: "bad mode", body: `{"query":"q","mode":"x"}`, param: "mode"},
		{name: "trailing data", body: `{"query":"q"} {}`, param: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSearch([]byte(tt.body))
			if tt.param == "" && tt.name != "trailing data" {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			ae := toAPIError(err)
			require.Equal(t, 400, ae.Status)
			require.Equal(t, tt.param, ae.Param)
		})
	}
}

func FuzzDecodeSearch(f *testing.F) {
	for _, seed := range []string{
		`{"query":"hello"}`,
		`{"query":["a","b"],"max_num_results":50,"mode":"vector"}`,
		`{"query":"q","filters":{"type":"or","filters":[{"type":"eq","key":"k","value":true},{"type":"lt","key":"n","value":1e3}]}}`,
		`{"query":"q","ranking_options":{"ranker":"none","score_threshold":0.1}}`,
		`{"query":"q","filters":{"type":"and","filters":[{"type":"and","filters":[{"type":"and","filters":[]}]}]}}`,
		`{"query":null}`, `[]`, `{"query":"\u0000"}`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeSearch(body)
		if err != nil {
			ae := toAPIError(err)
			require.Equal(t, 400, ae.Status, "decode errors are client errors: %v", err)
			return
		}
		require.NotEmpty(t, req.Query)
		require.GreaterOrEqual(t, req.MaxNumResults, 1)
		require.LessOrEqual(t, req.MaxNumResults, service.MaxSearchResults)
		require.Contains(t, []retrieval.Mode{retrieval.ModeHybrid, retrieval.ModeVector, retrieval.ModeLexical}, req.Mode)
		if req.Filters != nil {
			require.NoError(t, req.Filters.Validate())
		}
		require.GreaterOrEqual(t, req.ScoreThreshold, 0.0)
		require.LessOrEqual(t, req.ScoreThreshold, 1.0)
	})
}

func TestDecodeJSONTypeErrorsNameJSONTypes(t *testing.T) {
	tests := []struct {
		body, param, want string
	}{
		{`{"chunking_strategy":"x"}`, "chunking_strategy", "expected an object."},
		{`{"name":5}`, "name", "expected a string."},
		{`{"file_ids":"x"}`, "file_ids", "expected an array."},
		{`{"file_ids":[1]}`, "file_ids", "expected a string."},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			var b storeCreateBody
			err := decodeJSON([]byte(tt.body), &b)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tt.param, ae.Param)
			require.Contains(t, ae.Message, tt.want)
			require.NotContains(t, ae.Message, "chunk.")
		})
	}
	_, err := decodeSearch([]byte(`{"query":"x","max_num_results":1e30}`))
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "Invalid type for 'max_num_results': expected an integer.", ae.Message)
}
