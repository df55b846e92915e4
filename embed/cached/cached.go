// Package cached wraps an embed.Embedder with an embedding cache and
// micro-batching.
//
// The cache is an LRU of a bounded number of vectors keyed by the wrapped
// embedder's Info and the SHA-256 of the text, so a text is embedded once
// per vector space however often it is asked for. Texts that miss are
// embedded through an llm/batch Batcher: concurrent calls are coalesced into
// upstream calls of at most Batch.MaxInputs texts. A caller with nothing in
// flight is sent at once; only callers arriving while a call runs wait up to
// Batch.MaxWait for company, so batching adds no latency at low load. A big
// call is split into batches of at most MaxInputs texts and reassembled in
// order. A failed upstream call fails only the callers whose texts it
// carried, and nothing failed is cached.
package cached

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/batch"
)

// DefaultEntries is the cache size used when Options.Entries is 0.
const DefaultEntries = 8192

var _ embed.Embedder = (*Embedder)(nil)

// Options configure an Embedder.
type Options struct {
	// Entries bounds the number of cached vectors. 0 means DefaultEntries;
	// a negative value disables the cache.
	Entries int
	// Batch bounds the coalesced upstream calls; zero fields take
	// batch.Default and MaxInputs 1 disables batching.
	Batch batch.Config
	// Observer, if set, is told the size of every upstream call.
	Observer batch.Observer
}

// Stats counts cache lookups.
type Stats struct {
	Hits   uint64
	Misses uint64
}

// Embedder is a caching, batching embed.Embedder. It is safe for concurrent
// use; Close stops it.
type Embedder struct {
	next    embed.Embedder
	info    embed.Info
	cache   *lru.Cache[key, []float32] // nil when disabled
	batcher *batch.Batcher
	// maxInputs is the most texts of one upstream call.
	maxInputs int
	hits      atomic.Uint64
	misses    atomic.Uint64
}

type key struct {
	info embed.Info
	sum  [sha256.Size]byte
}

// New wraps next.
func New(next embed.Embedder, o Options) *Embedder {
	e := &Embedder{next: next, info: next.Info(), maxInputs: o.Batch.WithDefaults().MaxInputs}
	entries := o.Entries
	if entries == 0 {
		entries = DefaultEntries
	}
	if entries > 0 {
		// lru.New fails only for a size below 1.
		e.cache, _ = lru.New[key, []float32](entries)
	}
	e.batcher = batch.New(backend{next}, o.Batch, o.Observer)
	return e
}

// Info implements embed.Embedder; it is the wrapped embedder's.
func (e *Embedder) Info() embed.Info { return e.info }

// Stats returns the cache hits and misses so far.
func (e *Embedder) Stats() Stats {
	return Stats{Hits: e.hits.Load(), Misses: e.misses.Load()}
}

// Embed implements embed.Embedder. The returned vectors are the caller's to
// modify.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	dims := e.info.Dimensions
	buf := make([]float32, len(texts)*dims)
	out := make([][]float32, len(texts))
	for i := range out {
		out[i] = buf[i*dims : (i+1)*dims : (i+1)*dims]
	}
	// missing maps each text not in the cache to the places it fills.
	var (
		missTexts []string
		missKeys  []key
		missAt    [][]int
		index     map[key]int
	)
	for i, t := range texts {
		k := key{info: e.info, sum: sha256.Sum256([]byte(t))}
		if e.cache != nil {
			if v, ok := e.cache.Get(k); ok {
				e.hits.Add(1)
				copy(out[i], v)
				continue
			}
		}
		e.misses.Add(1)
		if index == nil {
			index = make(map[key]int)
		}
		if j, ok := index[k]; ok {
			missAt[j] = append(missAt[j], i)
			continue
		}
		index[k] = len(missTexts)
		missTexts = append(missTexts, t)
		missKeys = append(missKeys, k)
		missAt = append(missAt, []int{i})
	}
	if len(missTexts) == 0 {
		return out, nil
	}
	vs, err := e.embedMisses(ctx, missTexts)
	if err != nil {
		return nil, err
	}
	if len(vs) != len(missTexts) {
		return nil, fmt.Errorf("embed %s: %d vectors for %d texts: %w", e.info, len(vs), len(missTexts), llm.ErrBadUpstream)
	}
	for j, v := range vs {
		if len(v) != dims {
			return nil, fmt.Errorf("embed %s: vector has %d dimensions, want %d", e.info, len(v), dims)
		}
		for _, i := range missAt[j] {
			copy(out[i], v)
		}
		if e.cache != nil {
			e.cache.Add(missKeys[j], slices.Clone(v))
		}
	}
	return out, nil
}

// embedMisses embeds texts in shared batches. A batch can fail for a text of
// another caller (an upstream refusing one bad input refuses the whole
// request), so a failure that retrying would not cure is retried once with
// this caller's texts alone: only the callers whose texts are at fault fail.
func (e *Embedder) embedMisses(ctx context.Context, texts []string) ([][]float32, error) {
	resp, err := e.batcher.Embed(ctx, &llm.EmbedRequest{Input: texts})
	if err == nil {
		return resp.Vectors, nil
	}
	if ctx.Err() != nil || llm.Retryable(err) || e.maxInputs <= 1 {
		return nil, err
	}
	out := make([][]float32, 0, len(texts))
	for off := 0; off < len(texts); off += e.maxInputs {
		part := texts[off:min(off+e.maxInputs, len(texts))]
		vs, err := e.next.Embed(ctx, part)
		if err != nil {
			return nil, err
		}
		if len(vs) != len(part) {
			return nil, fmt.Errorf("embed %s: %d vectors for %d texts: %w", e.info, len(vs), len(part), llm.ErrBadUpstream)
		}
		out = append(out, vs...)
	}
	return out, nil
}

// Close fails calls still waiting for a batch, waits for the upstream calls
// in flight, and closes the wrapped embedder if it is an io.Closer.
func (e *Embedder) Close() error {
	err := e.batcher.Close()
	if c, ok := e.next.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}

// backend presents an embed.Embedder to the batcher as an llm.Backend.
type backend struct{ e embed.Embedder }

var errNotEmbedding = fmt.Errorf("embedder serves embeddings only: %w", llm.ErrInvalidRequest)

func (b backend) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	vs, err := b.e.Embed(ctx, req.Input)
	if err != nil {
		return nil, err
	}
	return &llm.EmbedResponse{Vectors: vs}, nil
}

func (backend) Generate(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, errNotEmbedding
}

func (backend) GenerateStream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, errNotEmbedding
}

func (backend) Models(context.Context) ([]llm.Model, error) { return nil, errNotEmbedding }
