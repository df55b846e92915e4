// Package embedded is the default retrieval store, needing no server: an
// HNSW graph for vector search and a BM25 inverted index for lexical
// search, per tenant and collection, held in memory and persisted in an
// append-only, checksummed log in the data dir that is replayed on open.
package embedded

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"sync"
	"sync/atomic"

	"github.com/ragway/ragway/retrieval"
)

var _ retrieval.Store = (*Store)(nil)

// Fusion methods for hybrid search.
const (
	// FusionRRF is reciprocal rank fusion (retrieval.FuseRRF).
	FusionRRF = "rrf"
	// FusionWeighted adds the lexical and vector scores of each chunk, each
	// divided by the best score of its list, the lexical one weighted by
	// LexicalWeight and the vector one by 1-LexicalWeight.
	FusionWeighted = "weighted"
)

// Options tune the store. The zero value gives the defaults.
type Options struct {
	// M is the number of HNSW links per node (level 0 has 2M); default 16.
	M int
	// EfConstruction is the HNSW build beam; default 100.
	EfConstruction int
	// EfSearch is the HNSW search beam, raised to K when smaller; default 64.
	EfSearch int
	// K1 and B are the BM25 parameters; defaults DefaultK1 and DefaultB.
	K1, B float64
	// Fusion is FusionWeighted (default) or FusionRRF.
	Fusion string
	// LexicalWeight is the lexical share in weighted fusion, in (0,1);
	// default DefaultLexicalWeight.
	LexicalWeight float64
	// HybridDepth is how many results of each list are fused, at least K;
	// default 100.
	HybridDepth int
	// NoSync skips fsync: faster, and an acknowledged write may be lost on
	// a machine crash (not on a process crash). For benchmarks and tests.
	NoSync bool
}

// DefaultLexicalWeight is the lexical share of weighted hybrid fusion. On
// the SciFact train judgements, with the lexical hashing embedder, 0.95
// scored best of 0.75..0.95 (and RRF far below): the vector list breaks
// ties among lexical matches and adds chunks with no shared word.
const DefaultLexicalWeight = 0.95

func (o Options) withDefaults() Options {
	if o.EfSearch <= 0 {
		o.EfSearch = defaultEfSearch
	}
	if o.K1 <= 0 || math.IsNaN(o.K1) {
		o.K1 = DefaultK1
	}
	if o.B < 0 || o.B > 1 || o.B == 0 || math.IsNaN(o.B) {
		o.B = DefaultB
	}
	if o.Fusion != FusionRRF {
		o.Fusion = FusionWeighted
	}
	if !(o.LexicalWeight > 0 && o.LexicalWeight < 1) {
		o.LexicalWeight = DefaultLexicalWeight
	}
	if o.HybridDepth <= 0 {
		o.HybridDepth = 100
	}
	return o
}

// Store is the embedded store. It is safe for concurrent use.
type Store struct {
	opts Options
	log  *wal

	wmu    sync.Mutex // orders writes: log append and apply
	mu     sync.RWMutex
	colls  map[key]*locked
	closed atomic.Bool
	lock   *os.File // the dir's LOCK file, flocked while open
}

type key struct{ tenant, collection string }

// locked is a collection and the lock readers and writers share.
type locked struct {
	mu sync.RWMutex
	c  *collection
}

// Open opens the store in dir, creating it if needed, and rebuilds the
// indexes from its log. A log that holds much more than the live data is
// rewritten.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open embedded store: %w", err)
	}
	s, err := open(ctx, dir, opts)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func open(ctx context.Context, dir string, opts Options) (*Store, error) {
	s := &Store{opts: opts.withDefaults(), colls: map[key]*locked{}}
	var total, live int64
	sizes := map[key]map[string]int64{}
	log, err := openWAL(dir, s.opts.NoSync, func(r *record, size int64) {
		total += size
		k := key{r.tenant, r.collection}
		if r.op == opDeleteCollection {
			for _, n := range sizes[k] {
				live -= n
			}
			delete(sizes, k)
		} else {
			if sizes[k] == nil {
				sizes[k] = map[string]int64{}
			}
			live -= sizes[k][r.fileID]
			sizes[k][r.fileID] = size
			if len(r.chunks) == 0 {
				live -= size
				delete(sizes[k], r.fileID)
			}
			live += size
		}
		s.apply(r)
	})
	if err != nil {
		return nil, fmt.Errorf("open embedded store: %w", err)
	}
	s.log = log
	if err := ctx.Err(); err != nil {
		log.close()
		return nil, fmt.Errorf("open embedded store: %w", err)
	}
	if total > 1<<20 && total > 2*live {
		if err := log.rewrite(s.records); err != nil {
			log.close()
			return nil, fmt.Errorf("open embedded store: %w", err)
		}
	}
	return s, nil
}

// records yields one record per live file, for rewriting the log.
func (s *Store) records(yield func(*record) error) error {
	for k, l := range s.colls {
		for fileID := range l.c.files {
			r := &record{op: opReplaceFile, tenant: k.tenant, collection: k.collection, fileID: fileID, chunks: l.c.fileChunks(fileID)}
			if err := yield(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply changes the in-memory state; the caller holds wmu (or is Open).
func (s *Store) apply(r *record) {
	k := key{r.tenant, r.collection}
	s.mu.RLock()
	l := s.colls[k]
	s.mu.RUnlock()
	if r.op == opDeleteCollection {
		s.mu.Lock()
		delete(s.colls, k)
		s.mu.Unlock()
		return
	}
	if l == nil {
		if len(r.chunks) == 0 || fits(nil, r.fileID, r.chunks) != nil {
			return
		}
		l = &locked{c: newCollection(&s.opts)}
		s.mu.Lock()
		s.colls[k] = l
		s.mu.Unlock()
	}
	l.mu.Lock()
	if fits(l.c, r.fileID, r.chunks) != nil {
		// Refused before logging; only a log written by another version
		// can hold such a record.
		l.mu.Unlock()
		return
	}
	for i := range r.chunks {
		normalise(r.chunks[i].Vector)
	}
	l.c.replace(r.fileID, r.chunks)
	empty := l.c.live == 0
	l.mu.Unlock()
	if empty {
		s.mu.Lock()
		if s.colls[k] == l {
			delete(s.colls, k)
		}
		s.mu.Unlock()
	}
}

// fits checks that every chunk has a vector of one size that the
// collection (nil: a new one) accepts in place of the file's chunks.
func fits(c *collection, fileID string, chunks []retrieval.Chunk) error {
	if len(chunks) == 0 {
		return nil
	}
	dim := len(chunks[0].Vector)
	if c != nil && c.live > len(c.files[fileID]) && c.dim != dim {
		return fmt.Errorf("%w: vectors of %d values in a collection of %d", retrieval.ErrInvalidQuery, dim, c.dim)
	}
	if dim == 0 || dim > maxDimensions {
		return fmt.Errorf("%w: chunks need vectors of 1 to %d values", retrieval.ErrInvalidQuery, maxDimensions)
	}
	for i, ch := range chunks {
		if len(ch.Vector) != dim {
			return fmt.Errorf("%w: chunk %d has %d vector values, chunk 0 has %d", retrieval.ErrInvalidQuery, i, len(ch.Vector), dim)
		}
	}
	return nil
}

// ReplaceFile implements retrieval.Store. Every chunk needs a vector of
// the collection's dimension (set by its first chunk) and an id. It
// returns once the change is durable.
func (s *Store) ReplaceFile(ctx context.Context, tenant, collection, fileID string, chunks []retrieval.Chunk) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	if tenant == "" || collection == "" || fileID == "" {
		return fmt.Errorf("replace file: %w: tenant, collection and file id are required", retrieval.ErrInvalidQuery)
	}
	own := make([]retrieval.Chunk, len(chunks))
	for i, ch := range chunks {
		if ch.ID == "" {
			return fmt.Errorf("replace file: %w: chunk %d has no id", retrieval.ErrInvalidQuery, i)
		}
		ch.Tenant, ch.Collection, ch.FileID = tenant, collection, fileID
		ch.Vector = append([]float32(nil), ch.Vector...)
		ch.Attributes = maps.Clone(ch.Attributes)
		own[i] = ch
	}
	r := &record{op: opReplaceFile, tenant: tenant, collection: collection, fileID: fileID, chunks: own}
	return s.write("replace file", r)
}

// DeleteCollection implements retrieval.Store.
func (s *Store) DeleteCollection(ctx context.Context, tenant, collection string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete collection: %w", err)
	}
	return s.write("delete collection", &record{op: opDeleteCollection, tenant: tenant, collection: collection})
}

// write logs r, applies it and waits until it is durable.
func (s *Store) write(what string, r *record) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w: store closed", what, retrieval.ErrUnavailable)
	}
	b, err := frame(r)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", what, retrieval.ErrInvalidQuery, err)
	}
	s.wmu.Lock()
	if r.op == opReplaceFile {
		if err := s.checkDimensions(r); err != nil {
			s.wmu.Unlock()
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	seq, err := s.log.append(b)
	if err != nil {
		s.wmu.Unlock()
		return fmt.Errorf("%s: %w: %w", what, retrieval.ErrUnavailable, err)
	}
	s.apply(r)
	s.wmu.Unlock()
	if err := s.log.sync(seq); err != nil {
		return fmt.Errorf("%s: %w: %w", what, retrieval.ErrUnavailable, err)
	}
	return nil
}

// checkDimensions refuses chunks whose vectors do not fit the collection.
// The caller holds wmu, so the collection cannot change meanwhile.
func (s *Store) checkDimensions(r *record) error {
	s.mu.RLock()
	l := s.colls[key{r.tenant, r.collection}]
	s.mu.RUnlock()
	if l == nil {
		return fits(nil, r.fileID, r.chunks)
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return fits(l.c, r.fileID, r.chunks)
}

// Close implements retrieval.Store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.log.close()
	if s.lock != nil {
		s.lock.Close() // releases the flock
	}
	if err != nil {
		return fmt.Errorf("close embedded store: %w", err)
	}
	return nil
}

// Stats describes the store's contents.
type Stats struct {
	Collections int
	Chunks      int
	// IndexBytes estimates the memory of the vector graphs.
	IndexBytes int64
}

// Stats returns the store's current size.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var st Stats
	for _, l := range s.colls {
		l.mu.RLock()
		st.Collections++
		st.Chunks += l.c.live
		if l.c.g != nil {
			st.IndexBytes += l.c.g.bytes()
		}
		l.mu.RUnlock()
	}
	return st
}
