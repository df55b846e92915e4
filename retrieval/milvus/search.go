package milvus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"github.com/milvus-io/milvus/pkg/v2/util/merr"

	"github.com/ragway/ragway/retrieval"
)

// Search implements retrieval.Store. Vector scores are cosine
// similarities, lexical scores BM25, hybrid scores RRF (or the weighted
// sum of FusionWeighted).
func (s *Store) Search(ctx context.Context, q retrieval.Query) ([]retrieval.Result, error) {
	mode, err := checkQuery(q)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if err := checkRef("tenant", q.Tenant); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if err := checkRef("collection", q.Collection); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	filter, err := filterExpr(q.Filter, s.feat.templates)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	name := collectionName(s.opts.Prefix, q.Tenant, q.Collection)
	ci, ok, err := s.info(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if !ok {
		return []retrieval.Result{}, nil
	}
	if len(q.Vector) > 0 && len(q.Vector) != ci.dim {
		return nil, fmt.Errorf("search: %w: query vector has %d values, collection has %d", retrieval.ErrInvalidQuery, len(q.Vector), ci.dim)
	}
	sr := searcher{s: s, name: name, q: q, filter: filter, bm25: ci.bm25}
	var out []retrieval.Result
	err = s.retryUnloaded(ctx, name, func() error {
		var err error
		switch {
		case mode == retrieval.ModeLexical || len(q.Vector) == 0:
			out, err = sr.lexical(ctx, q.K)
		case mode == retrieval.ModeVector || q.Text == "":
			out, err = sr.vector(ctx, q.K)
		default:
			out, err = sr.hybrid(ctx)
		}
		return err
	})
	if notFound(err) {
		s.forget(name)
		return []retrieval.Result{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if out == nil {
		out = []retrieval.Result{}
	}
	return out, nil
}

// retryUnloaded runs fn, loading the collection and trying once more if
// the server had released it.
func (s *Store) retryUnloaded(ctx context.Context, name string, fn func() error) error {
	err := fn()
	if !errors.Is(err, merr.ErrCollectionNotLoaded) {
		return err
	}
	err = s.call(ctx, func(ctx context.Context) error {
		task, err := s.c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(name))
		if err != nil {
			return err
		}
		return task.Await(ctx)
	})
	if err != nil {
		return err
	}
	return fn()
}

func checkQuery(q retrieval.Query) (retrieval.Mode, error) {
	if len(q.Text) > maxTextBytes {
		return "", fmt.Errorf("%w: query text too long", retrieval.ErrInvalidQuery)
	}
	return q.Check(maxDimensions)
}

// searcher runs one query's searches.
type searcher struct {
	s      *Store
	name   string
	q      retrieval.Query
	filter expression
	bm25   bool
}

// ann is one search request: the vector's nearest neighbours, or the
// text's BM25 matches.
func (sr searcher) ann(lexical bool, k int) *milvusclient.AnnRequest {
	var r *milvusclient.AnnRequest
	if lexical {
		r = milvusclient.NewAnnRequest(fieldSparse, k, entity.Text(sr.q.Text))
	} else {
		r = milvusclient.NewAnnRequest(fieldVector, k, entity.FloatVector(sr.q.Vector)).
			WithAnnParam(index.NewHNSWAnnParam(min(max(sr.s.opts.Ef, k), 65535)))
	}
	if sr.filter.text != "" {
		r = r.WithFilter(sr.filter.text)
		for k, v := range sr.filter.params {
			r = r.WithTemplateParam(k, v)
		}
	}
	return r
}

// searchOption is ann as a search of its own.
func (sr searcher) searchOption(lexical bool, k int) milvusclient.SearchOption {
	var v entity.Vector = entity.FloatVector(sr.q.Vector)
	field := fieldVector
	if lexical {
		v, field = entity.Text(sr.q.Text), fieldSparse
	}
	o := milvusclient.NewSearchOption(sr.name, k, []entity.Vector{v}).WithANNSField(field).
		WithOutputFields(outputFields...).WithConsistencyLevel(sr.s.level)
	if !lexical {
		o = o.WithAnnParam(index.NewHNSWAnnParam(min(max(sr.s.opts.Ef, k), 65535)))
	}
	if sr.filter.text != "" {
		o = o.WithFilter(sr.filter.text)
		for name, val := range sr.filter.params {
			o = o.WithTemplateParam(name, val)
		}
	}
	return o
}

func (sr searcher) run(ctx context.Context, lexical bool, k int) ([]retrieval.Result, error) {
	var rs []milvusclient.ResultSet
	err := sr.s.call(ctx, func(ctx context.Context) error {
		var err error
		rs, err = sr.s.c.Search(ctx, sr.searchOption(lexical, k))
		return err
	})
	if err != nil {
		return nil, err
	}
	return sr.results(rs)
}

func (sr searcher) results(rs []milvusclient.ResultSet) ([]retrieval.Result, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	if rs[0].Err != nil {
		return nil, rs[0].Err
	}
	return toResults(rs[0], sr.q.Tenant, sr.q.Collection)
}

// vector returns the k nearest chunks by cosine similarity.
func (sr searcher) vector(ctx context.Context, k int) ([]retrieval.Result, error) {
	return sr.run(ctx, false, k)
}

// lexical returns the k best BM25 matches of the text; only chunks sharing
// a term score above zero.
func (sr searcher) lexical(ctx context.Context, k int) ([]retrieval.Result, error) {
	if sr.q.Text == "" {
		return nil, nil
	}
	if !sr.bm25 {
		return nil, fmt.Errorf("%w: lexical search needs Milvus 2.5 or later (server %s)", retrieval.ErrInvalidQuery, sr.s.version)
	}
	res, err := sr.run(ctx, true, k)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(res, func(r retrieval.Result) bool { return !(r.Score > 0) }), nil
}

// hybrid fuses the lexical and vector lists: natively with the server's
// RRF ranker, or here (weighted fusion, or RRF when the collection has no
// BM25 and the list is the vector one alone).
func (sr searcher) hybrid(ctx context.Context) ([]retrieval.Result, error) {
	depth := max(sr.q.K, sr.s.opts.HybridDepth)
	if !sr.bm25 {
		vec, err := sr.vector(ctx, depth)
		if err != nil {
			return nil, err
		}
		return retrieval.FuseRRF(retrieval.RRFK, sr.q.K, vec), nil
	}
	if sr.s.opts.Fusion == FusionWeighted {
		lex, err := sr.lexical(ctx, depth)
		if err != nil {
			return nil, err
		}
		vec, err := sr.vector(ctx, depth)
		if err != nil {
			return nil, err
		}
		return retrieval.FuseWeighted(sr.q.K, sr.s.opts.LexicalWeight, lex, vec), nil
	}
	var rs []milvusclient.ResultSet
	err := sr.s.call(ctx, func(ctx context.Context) error {
		opt := milvusclient.NewHybridSearchOption(sr.name, sr.q.K, sr.ann(true, depth), sr.ann(false, depth)).
			WithReranker(milvusclient.NewRRFReranker().WithK(retrieval.RRFK)).
			WithOutputFields(outputFields...).WithConsistencyLevel(sr.s.level)
		var err error
		rs, err = sr.s.c.HybridSearch(ctx, opt)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sr.results(rs)
}

// toResults maps a search result set to results, best first.
func toResults(rs milvusclient.ResultSet, tenant, collection string) ([]retrieval.Result, error) {
	chunks, err := toChunks(rs, false)
	if err != nil {
		return nil, err
	}
	if len(rs.Scores) < len(chunks) {
		return nil, fmt.Errorf("search result has %d scores for %d rows", len(rs.Scores), len(chunks))
	}
	out := make([]retrieval.Result, len(chunks))
	for i, ch := range chunks {
		ch.Tenant, ch.Collection = tenant, collection
		out[i] = retrieval.Result{Chunk: ch, Score: float64(rs.Scores[i])}
	}
	slices.SortStableFunc(out, func(a, b retrieval.Result) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return out, nil
}

// toChunks maps the rows of a result set to chunks (tenant and collection
// left to the caller), reading the vector when withVector.
func toChunks(rs milvusclient.ResultSet, withVector bool) ([]retrieval.Chunk, error) {
	n := rs.ResultCount
	if n == 0 {
		return nil, nil
	}
	get := func(name string) (column.Column, error) {
		c := rs.GetColumn(name)
		if c == nil {
			return nil, fmt.Errorf("result has no %s field", name)
		}
		if c.Len() < n {
			return nil, fmt.Errorf("result field %s has %d of %d rows", name, c.Len(), n)
		}
		return c, nil
	}
	strs := map[string]column.Column{}
	for _, f := range []string{fieldChunkID, fieldFileID, fieldFilename, fieldText, fieldTitle, fieldHeading, fieldIndex, fieldPage, fieldAttributes} {
		c, err := get(f)
		if err != nil {
			return nil, err
		}
		strs[f] = c
	}
	var vecs *column.ColumnFloatVector
	if withVector {
		c, err := get(fieldVector)
		if err != nil {
			return nil, err
		}
		v, ok := c.(*column.ColumnFloatVector)
		if !ok {
			return nil, fmt.Errorf("result field %s is %T", fieldVector, c)
		}
		vecs = v
	}
	out := make([]retrieval.Chunk, n)
	for i := range n {
		ch := &out[i]
		var err error
		for _, f := range []struct {
			name string
			dst  *string
		}{{fieldChunkID, &ch.ID}, {fieldFileID, &ch.FileID}, {fieldFilename, &ch.Filename}, {fieldText, &ch.Text}, {fieldTitle, &ch.Title}, {fieldHeading, &ch.Heading}} {
			if *f.dst, err = strs[f.name].GetAsString(i); err != nil {
				return nil, fmt.Errorf("row %d %s: %w", i, f.name, err)
			}
		}
		idx, err := strs[fieldIndex].GetAsInt64(i)
		if err != nil {
			return nil, fmt.Errorf("row %d %s: %w", i, fieldIndex, err)
		}
		page, err := strs[fieldPage].GetAsInt64(i)
		if err != nil {
			return nil, fmt.Errorf("row %d %s: %w", i, fieldPage, err)
		}
		ch.Index, ch.Page = int(idx), int(page)
		raw, err := strs[fieldAttributes].Get(i)
		if err != nil {
			return nil, fmt.Errorf("row %d %s: %w", i, fieldAttributes, err)
		}
		if ch.Attributes, err = decodeAttributes(raw); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		if vecs != nil {
			v, err := vecs.Get(i)
			if err != nil {
				return nil, fmt.Errorf("row %d %s: %w", i, fieldVector, err)
			}
			fv, ok := v.(entity.FloatVector)
			if !ok {
				return nil, fmt.Errorf("row %d %s is %T", i, fieldVector, v)
			}
			ch.Vector = slices.Clone([]float32(fv))
		}
	}
	return out, nil
}

// decodeAttributes reads a stored attributes object; an empty one is nil.
func decodeAttributes(raw any) (map[string]any, error) {
	var b []byte
	switch v := raw.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("attributes are %T", raw)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}
