package embedded

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/ragway/ragway/retrieval"
)

// Filtered vector search: when a filter is estimated to match fewer than
// bruteForceMax chunks, they are scanned exactly; otherwise the graph is
// searched with a beam widened by the filter's selectivity, doubling until
// K matches are found.
const (
	bruteForceMax = 4096
	filterSample  = 512
	maxK          = 1000
)

// Search implements retrieval.Store.
func (s *Store) Search(ctx context.Context, q retrieval.Query) ([]retrieval.Result, error) {
	return s.SearchEf(ctx, q, s.opts.EfSearch)
}

// SearchEf is Search with the HNSW search beam ef instead of the store's.
func (s *Store) SearchEf(ctx context.Context, q retrieval.Query, ef int) ([]retrieval.Result, error) {
	if ef <= 0 {
		ef = s.opts.EfSearch
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("search: %w: store closed", retrieval.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if q.K < 1 || q.K > maxK {
		return nil, fmt.Errorf("search: %w: k must be 1..%d", retrieval.ErrInvalidQuery, maxK)
	}
	mode := q.Mode
	if mode == "" {
		mode = retrieval.ModeHybrid
	}
	switch mode {
	case retrieval.ModeHybrid, retrieval.ModeVector, retrieval.ModeLexical:
	default:
		return nil, fmt.Errorf("search: %w: unknown mode %q", retrieval.ErrInvalidQuery, q.Mode)
	}
	if mode == retrieval.ModeVector && len(q.Vector) == 0 {
		return nil, fmt.Errorf("search: %w: vector search needs a vector", retrieval.ErrInvalidQuery)
	}
	if q.Filter != nil {
		if err := q.Filter.Validate(); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	s.mu.RLock()
	l := s.colls[key{q.Tenant, q.Collection}]
	s.mu.RUnlock()
	if l == nil {
		if len(q.Vector) > maxDimensions {
			return nil, fmt.Errorf("search: %w: vector too large", retrieval.ErrInvalidQuery)
		}
		return []retrieval.Result{}, nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	c := l.c
	if c.g == nil || c.live == 0 {
		return []retrieval.Result{}, nil
	}
	if len(q.Vector) > 0 && len(q.Vector) != c.dim {
		return nil, fmt.Errorf("search: %w: query vector has %d values, collection has %d", retrieval.ErrInvalidQuery, len(q.Vector), c.dim)
	}
	switch {
	case mode == retrieval.ModeLexical || len(q.Vector) == 0:
		return c.lexical(q.Text, q.K, q.Filter), nil
	case mode == retrieval.ModeVector || q.Text == "":
		return c.vector(q.Vector, q.K, ef, q.Filter), nil
	}
	depth := max(q.K, s.opts.HybridDepth)
	lex := c.lexical(q.Text, depth, q.Filter)
	vec := c.vector(q.Vector, depth, ef, q.Filter)
	if s.opts.Fusion == FusionRRF {
		return retrieval.FuseRRF(retrieval.RRFK, q.K, lex, vec), nil
	}
	return retrieval.FuseWeighted(q.K, s.opts.LexicalWeight, lex, vec), nil
}

// lexical returns the k best BM25 matches of text that pass f.
func (c *collection) lexical(text string, k int, f *retrieval.Filter) []retrieval.Result {
	top := make(minHeap, 0, k+1)
	c.ix.score(text, c.alive, func(doc uint32, score float64) {
		s := float32(score)
		if len(top) == k && s <= top[0].sim {
			return
		}
		if f != nil && !f.Match(c.chunks[doc].Attributes) {
			return
		}
		top.push(candidate{doc, s})
		if len(top) > k {
			top.pop()
		}
	})
	out := []candidate(top)
	sortDesc(out)
	return c.results(out, k)
}

func (c *collection) results(cs []candidate, k int) []retrieval.Result {
	if len(cs) > k {
		cs = cs[:k]
	}
	res := make([]retrieval.Result, len(cs))
	for i, x := range cs {
		res[i] = c.result(x.id, float64(x.sim))
	}
	return res
}

// vector returns the k chunks nearest to v that pass f.
func (c *collection) vector(v []float32, k, ef int, f *retrieval.Filter) []retrieval.Result {
	q := append([]float32(nil), v...)
	normalise(q)
	match := c.alive
	if f != nil {
		match = func(id uint32) bool { return c.chunks[id] != nil && f.Match(c.chunks[id].Attributes) }
	}
	if c.live <= bruteForceMax {
		return c.results(c.brute(q, k, match), k)
	}
	frac := 1.0
	if f != nil {
		frac = c.selectivity(f)
		if frac*float64(c.live) < bruteForceMax {
			return c.results(c.brute(q, k, match), k)
		}
	}
	ef = int(float64(max(ef, k)) / frac)
	for {
		found := c.g.search(q, ef, match)
		if len(found) >= k || ef >= c.g.len() {
			return c.results(found, k)
		}
		ef *= 2
	}
}

// selectivity estimates the share of live chunks that f matches from a
// sample, never below a floor that keeps the beam bounded.
func (c *collection) selectivity(f *retrieval.Filter) float64 {
	rng := rand.New(rand.NewPCG(uint64(len(c.chunks)), uint64(c.live)))
	seen, hit := 0, 0
	for range filterSample * 4 {
		ch := c.chunks[rng.IntN(len(c.chunks))]
		if ch == nil {
			continue
		}
		seen++
		if f.Match(ch.Attributes) {
			hit++
		}
		if seen == filterSample {
			break
		}
	}
	if seen == 0 {
		return 1
	}
	return max(float64(hit)/float64(seen), 1/float64(filterSample))
}

// brute scans every chunk that match accepts.
func (c *collection) brute(q []float32, k int, match func(uint32) bool) []candidate {
	top := make(minHeap, 0, k+1)
	for id := range c.chunks {
		if !match(uint32(id)) {
			continue
		}
		s := dot(q, c.g.vec(uint32(id)))
		if len(top) == k && s <= top[0].sim {
			continue
		}
		top.push(candidate{uint32(id), s})
		if len(top) > k {
			top.pop()
		}
	}
	out := []candidate(top)
	sortDesc(out)
	return out
}
