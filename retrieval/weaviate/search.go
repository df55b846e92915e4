package weaviate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/analysis"
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

// search runs the search against the class definition cached for
// searches; when that definition may be stale and explain the outcome (no
// such property, another vector size, a refused request) it reads the
// class again and searches once more.
func (s *Store) search(ctx context.Context, q retrieval.Query, mode retrieval.Mode) ([]retrieval.Result, error) {
	name := className(s.opts.ClassPrefix, q.Tenant, q.Collection)
	out, retry, err := s.searchClassOnce(ctx, name, q, mode, false)
	if retry {
		out, _, err = s.searchClassOnce(ctx, name, q, mode, true)
	}
	return out, err
}

// searchClassOnce searches with the cached class definition, or one read
// afresh when reload; retry reports an outcome a stale cached definition
// may explain.
func (s *Store) searchClassOnce(ctx context.Context, name string, q retrieval.Query, mode retrieval.Mode, reload bool) (_ []retrieval.Result, retry bool, _ error) {
	out := []retrieval.Result{}
	c, cached, err := s.searchClass(ctx, name, reload)
	if err != nil || c == nil {
		return out, false, err
	}
	if len(q.Vector) > 0 && len(q.Vector) != c.meta.Dim {
		return nil, cached, fmt.Errorf("%w: query vector has %d values, collection has %d", retrieval.ErrInvalidQuery, len(q.Vector), c.meta.Dim)
	}
	filter, none, err := translate(q.Filter, c.props)
	if err != nil || none {
		return out, cached && none, err
	}
	req := s.request(c, q, mode, filter)
	if req == nil {
		return out, false, nil
	}
	reply, err := s.rpc.Search(ctx, req)
	if err != nil {
		return nil, cached && schemaMayExplain(err), wrap(err)
	}
	out, err = toResults(reply, q, req.NearVector != nil)
	return out, false, err
}

// schemaMayExplain reports whether a search error may come from a class
// changed by another process: anything but transport, load and
// credential failures.
func schemaMayExplain(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted,
		codes.Unauthenticated, codes.PermissionDenied:
		return false
	}
	return true
}

// toResults maps a search reply to results, best first.
func toResults(reply *pb.SearchReply, q retrieval.Query, vector bool) ([]retrieval.Result, error) {
	out := make([]retrieval.Result, 0, len(reply.GetResults()))
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
// search without terms). BM25, alone or as hybrid's keyword half, reads
// the analysed terms with the query analysed alike; a class made before
// the terms property searches its text, tokenized by Weaviate.
func (s *Store) request(c *class, q retrieval.Query, mode retrieval.Mode, filter *pb.Filters) *pb.SearchRequest {
	prop, text := propText, q.Text
	if c.analysed() {
		prop, text = propTerms, strings.Join(analysis.Terms(q.Text), " ")
	}
	req := &pb.SearchRequest{
		Collection:  c.name,
		Limit:       uint32(q.K),
		Filters:     filter,
		Metadata:    &pb.MetadataRequest{Uuid: true, Score: true, Distance: true},
		Properties:  &pb.PropertiesRequest{NonRefProperties: chunkProps},
		Uses_127Api: true,
	}
	switch {
	case mode == retrieval.ModeLexical || len(q.Vector) == 0:
		if text == "" {
			return nil
		}
		req.Bm25Search = &pb.BM25{Query: text, Properties: []string{prop}}
	case mode == retrieval.ModeVector || text == "":
		req.NearVector = &pb.NearVector{Vectors: queryVectors(q.Vector)}
	default:
		req.HybridSearch = &pb.Hybrid{
			Query: text, Properties: []string{prop},
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

func checkQuery(q retrieval.Query) (retrieval.Mode, error) { return q.Check(maxDimensions) }
