package weaviate

import (
	"context"
	"fmt"
	"slices"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/ragway/ragway/retrieval"
)

// Search implements retrieval.Store: nearVector for vector search (score
// 1 - cosine distance), BM25 over the text for lexical search (score the
// BM25 score), Weaviate's hybrid with relative score fusion for hybrid
// (score the fused score). Hybrid without a vector is lexical, without text
// vector search.
func (s *Store) Search(ctx context.Context, q retrieval.Query) ([]retrieval.Result, error) {
	mode, err := checkQuery(q)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer release()
	out, err := s.search(ctx, q, mode)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return out, nil
}

func (s *Store) search(ctx context.Context, q retrieval.Query, mode retrieval.Mode) ([]retrieval.Result, error) {
	out := []retrieval.Result{}
	c, err := s.getClass(ctx, className(s.opts.ClassPrefix, q.Tenant, q.Collection))
	if err != nil || c == nil {
		return out, err
	}
	if len(q.Vector) > 0 && len(q.Vector) != c.meta.Dim {
		return nil, fmt.Errorf("%w: query vector has %d values, collection has %d", retrieval.ErrInvalidQuery, len(q.Vector), c.meta.Dim)
	}
	filter, none, err := translate(q.Filter, c.props)
	if err != nil || none {
		return out, err
	}
	req := s.request(c.name, q, mode, filter)
	if req == nil {
		return out, nil
	}
	reply, err := s.rpc.Search(ctx, req)
	if err != nil {
		return nil, wrap(err)
	}
	vector := req.NearVector != nil
	for _, r := range reply.GetResults() {
		res, err := toResult(r, vector)
		if err != nil {
			return nil, err
		}
		res.Tenant, res.Collection = q.Tenant, q.Collection
		out = append(out, res)
	}
	// Best first, stable for equal scores.
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

// request builds the search; nil when it can match nothing (lexical
// search without text).
func (s *Store) request(name string, q retrieval.Query, mode retrieval.Mode, filter *pb.Filters) *pb.SearchRequest {
	req := &pb.SearchRequest{
		Collection:  name,
		Limit:       uint32(q.K),
		Filters:     filter,
		Metadata:    &pb.MetadataRequest{Uuid: true, Score: true, Distance: true},
		Properties:  &pb.PropertiesRequest{NonRefProperties: chunkProps},
		Uses_127Api: true,
	}
	switch {
	case mode == retrieval.ModeLexical || len(q.Vector) == 0:
		if q.Text == "" {
			return nil
		}
		req.Bm25Search = &pb.BM25{Query: q.Text, Properties: []string{propText}}
	case mode == retrieval.ModeVector || q.Text == "":
		req.NearVector = &pb.NearVector{Vectors: queryVectors(q.Vector)}
	default:
		req.HybridSearch = &pb.Hybrid{
			Query: q.Text, Properties: []string{propText},
			Vectors:    queryVectors(q.Vector),
			Alpha:      float32(s.opts.Alpha),
			FusionType: pb.Hybrid_FUSION_TYPE_RELATIVE_SCORE,
		}
	}
	return req
}

// queryVectors is a query vector as the search messages carry it: one
// single vector, unnamed, so it searches the class's default vector.
func queryVectors(v []float32) []*pb.Vectors {
	return []*pb.Vectors{{VectorBytes: vectorBytes(v), Type: pb.Vectors_VECTOR_TYPE_SINGLE_FP32}}
}

// toResult maps a search result; vector results score by cosine
// similarity, the others by Weaviate's score.
func toResult(r *pb.SearchResult, vector bool) (retrieval.Result, error) {
	ch, err := toChunk(r)
	if err != nil {
		return retrieval.Result{}, err
	}
	m := r.GetMetadata()
	score := float64(m.GetScore())
	if vector {
		score = 1 - float64(m.GetDistance())
	}
	return retrieval.Result{Chunk: ch, Score: score}, nil
}

func checkQuery(q retrieval.Query) (retrieval.Mode, error) {
	if q.K < 1 || q.K > maxK {
		return "", fmt.Errorf("%w: k must be 1..%d", retrieval.ErrInvalidQuery, maxK)
	}
	mode := q.Mode
	if mode == "" {
		mode = retrieval.ModeHybrid
	}
	switch mode {
	case retrieval.ModeHybrid, retrieval.ModeVector, retrieval.ModeLexical:
	default:
		return "", fmt.Errorf("%w: unknown mode %q", retrieval.ErrInvalidQuery, q.Mode)
	}
	if mode == retrieval.ModeVector && len(q.Vector) == 0 {
		return "", fmt.Errorf("%w: vector search needs a vector", retrieval.ErrInvalidQuery)
	}
	if len(q.Vector) > maxDimensions {
		return "", fmt.Errorf("%w: vector too large", retrieval.ErrInvalidQuery)
	}
	if q.Filter != nil {
		if err := q.Filter.Validate(); err != nil {
			return "", err
		}
	}
	return mode, nil
}
