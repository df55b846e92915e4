package milvus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/pkg/v2/util/merr"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval"
)

func TestSchema(t *testing.T) {
	for _, bm25 := range []bool{true, false} {
		t.Run(fmt.Sprint("bm25=", bm25), func(t *testing.T) {
			sch := buildSchema("ragway_t_c_x", describe("t", "c"), 768, bm25, "english")
			require.Equal(t, "ragway_t_c_x", sch.CollectionName)
			require.False(t, sch.AutoID)
			require.False(t, sch.EnableDynamicField)
			types := map[string]entity.FieldType{}
			for _, f := range sch.Fields {
				types[f.Name] = f.DataType
			}
			want := map[string]entity.FieldType{
				fieldPK: entity.FieldTypeVarChar, fieldChunkID: entity.FieldTypeVarChar, fieldTenant: entity.FieldTypeVarChar,
				fieldCollection: entity.FieldTypeVarChar, fieldFileID: entity.FieldTypeVarChar, fieldFilename: entity.FieldTypeVarChar,
				fieldIndex: entity.FieldTypeInt64, fieldText: entity.FieldTypeVarChar, fieldTitle: entity.FieldTypeVarChar,
				fieldHeading: entity.FieldTypeVarChar, fieldPage: entity.FieldTypeInt64, fieldAttributes: entity.FieldTypeJSON,
				fieldVector: entity.FieldTypeFloatVector,
			}
			if bm25 {
				want[fieldSparse] = entity.FieldTypeSparseVector
			}
			require.Equal(t, want, types)
			pk := sch.PKField()
			require.NotNil(t, pk)
			require.Equal(t, fieldPK, pk.Name)
			require.False(t, pk.AutoID)
			for _, f := range sch.Fields {
				switch f.Name {
				case fieldVector:
					dim, err := f.GetDim()
					require.NoError(t, err)
					require.EqualValues(t, 768, dim)
				case fieldPK:
					require.Equal(t, "32", f.TypeParams[entity.TypeParamMaxLength])
				case fieldText:
					require.Equal(t, "65535", f.TypeParams[entity.TypeParamMaxLength])
					if bm25 {
						require.Equal(t, "true", f.TypeParams["enable_analyzer"])
						require.JSONEq(t, `{"type":"english"}`, f.TypeParams["analyzer_params"])
					} else {
						require.NotContains(t, f.TypeParams, "enable_analyzer")
					}
				}
			}
			if bm25 {
				require.Len(t, sch.Functions, 1)
				fn := sch.Functions[0]
				require.Equal(t, entity.FunctionTypeBM25, fn.Type)
				require.Equal(t, []string{fieldText}, fn.InputFieldNames)
				require.Equal(t, []string{fieldSparse}, fn.OutputFieldNames)
			} else {
				require.Empty(t, sch.Functions)
			}
			ci, err := infoOf(sch)
			require.NoError(t, err)
			require.Equal(t, collInfo{dim: 768, bm25: bm25}, ci)
		})
	}
	_, err := infoOf(entity.NewSchema().WithName("x"))
	require.Error(t, err)
}

func TestIndexes(t *testing.T) {
	o := Options{M: 24, EfConstruction: 200, K1: 1.5, B: 0.5}.withDefaults()
	specs := indexes(o, true)
	got := map[string]map[string]string{}
	for _, s := range specs {
		got[s.field] = s.idx.Params()
	}
	require.Equal(t, map[string]string{index.IndexTypeKey: "HNSW", index.MetricTypeKey: "COSINE", "M": "24", "efConstruction": "200"}, got[fieldVector])
	require.Equal(t, map[string]string{index.IndexTypeKey: "SPARSE_INVERTED_INDEX", index.MetricTypeKey: "BM25",
		"inverted_index_algo": "DAAT_MAXSCORE", "bm25_k1": "1.5", "bm25_b": "0.5"}, got[fieldSparse])
	require.Equal(t, map[string]string{index.IndexTypeKey: "INVERTED"}, got[fieldFileID])
	require.Len(t, indexes(o, false), 2, "no sparse index without BM25")
}

func TestOptions(t *testing.T) {
	o := Options{Address: "localhost"}.withDefaults()
	require.Equal(t, "ragway", o.Prefix)
	require.Equal(t, ConsistencyStrong, o.Consistency)
	require.Equal(t, FusionRRF, o.Fusion)
	require.Equal(t, 16, o.M)
	require.Equal(t, 16, o.MaxConcurrency)
	require.Equal(t, 5*time.Second, o.AcquireTimeout)
	require.NoError(t, Options{Address: "localhost"}.Validate())
	bad := []Options{
		{},
		{Address: "x", Prefix: "9bad"},
		{Address: "x", Prefix: "has-dash"},
		{Address: "x", Database: "no spaces"},
		{Address: "x", Analyzer: "klingon"},
		{Address: "x", Consistency: "psychic"},
		{Address: "x", Fusion: "magic"},
		{Address: "x", ServerVersion: "latest"},
	}
	for _, b := range bad {
		require.Error(t, b.Validate(), "%+v", b)
	}
	// Secrets never print.
	s := fmt.Sprintf("%v %+v", Options{Password: llm.Secret("hunter2"), Token: llm.Secret("tok3n")}, Options{Password: "hunter2"})
	require.NotContains(t, s, "hunter2")
	require.NotContains(t, s, "tok3n")
	require.Equal(t, "localhost:19530", withPort("localhost"))
	require.Equal(t, "h:1", withPort("h:1"))
	require.Equal(t, "[::1]:19530", withPort("::1"))
	require.Equal(t, "https://x.cloud", withPort("https://x.cloud"))
}

func TestFeatures(t *testing.T) {
	for v, want := range map[string]features{
		"v2.4.15":                    {},
		"2.3.0":                      {},
		"v2.5.0":                     {bm25: true, templates: true},
		"v2.6.2-gpu":                 {bm25: true, templates: true},
		"3.0.0":                      {bm25: true, templates: true},
		"Compatible with Milvus 2.4": {},
		"unknown":                    {bm25: true, templates: true},
	} {
		require.Equal(t, want, featuresOf(v), v)
	}
}

func TestAcquire(t *testing.T) {
	sem := make(chan struct{}, 1)
	require.NoError(t, acquire(context.Background(), sem, time.Millisecond))
	err := acquire(context.Background(), sem, 10*time.Millisecond)
	require.ErrorIs(t, err, retrieval.ErrUnavailable, "a full store fails after the acquire timeout")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, acquire(ctx, sem, time.Minute), context.Canceled)
	<-sem
	require.NoError(t, acquire(context.Background(), sem, time.Millisecond))
}

func TestWrap(t *testing.T) {
	bg := context.Background()
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"grpc unavailable", status.Error(codes.Unavailable, "down"), retrieval.ErrUnavailable},
		{"grpc deadline", status.Error(codes.DeadlineExceeded, "slow"), retrieval.ErrUnavailable},
		{"grpc invalid", status.Error(codes.InvalidArgument, "bad"), retrieval.ErrInvalidQuery},
		{"our timeout", fmt.Errorf("x: %w", context.DeadlineExceeded), retrieval.ErrUnavailable},
		{"not ready", merr.WrapErrServiceNotReady("proxy", 1, "init"), retrieval.ErrUnavailable},
		{"rate limited", merr.ErrServiceRateLimit, retrieval.ErrUnavailable},
		{"bad parameter", merr.WrapErrParameterInvalidMsg("cannot parse expression"), retrieval.ErrInvalidQuery},
		{"transport", errors.New("dial tcp: connection refused"), retrieval.ErrUnavailable},
		{"ours passes", fmt.Errorf("x: %w", retrieval.ErrInvalidQuery), retrieval.ErrInvalidQuery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, wrap(bg, tc.err), tc.want)
		})
	}
	require.NoError(t, wrap(bg, nil))
	other := merr.WrapErrCollectionNotFound("x")
	got := wrap(bg, other)
	require.True(t, notFound(got), "a server error keeps its identity")
	require.NotErrorIs(t, got, retrieval.ErrUnavailable)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	require.ErrorIs(t, wrap(ctx, status.Error(codes.Unavailable, "x")), context.Canceled, "the caller's cancellation wins")
}
