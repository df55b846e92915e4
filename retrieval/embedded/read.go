package embedded

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/ragway/ragway/retrieval"
)

var _ retrieval.Reader = (*Store)(nil)

// Collections lists the collections holding chunks.
func (s *Store) Collections(ctx context.Context) ([]retrieval.CollectionRef, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	out := make([]retrieval.CollectionRef, 0, len(s.colls))
	for k := range s.colls {
		out = append(out, retrieval.CollectionRef{Tenant: k.tenant, Collection: k.collection})
	}
	s.mu.RUnlock()
	retrieval.SortCollections(out)
	return out, nil
}

// Files lists the collection's files and their chunk counts.
func (s *Store) Files(ctx context.Context, tenant, collection string) ([]retrieval.FileInfo, error) {
	l, err := s.lookup(ctx, tenant, collection)
	if l == nil || err != nil {
		return nil, err
	}
	l.mu.RLock()
	out := make([]retrieval.FileInfo, 0, len(l.c.files))
	for id, slots := range l.c.files {
		out = append(out, retrieval.FileInfo{ID: id, Chunks: len(slots)})
	}
	l.mu.RUnlock()
	retrieval.SortFiles(out)
	return out, nil
}

// FileChunks returns copies of one file's chunks, with their (unit
// length) vectors.
func (s *Store) FileChunks(ctx context.Context, tenant, collection, fileID string) ([]retrieval.Chunk, error) {
	l, err := s.lookup(ctx, tenant, collection)
	if l == nil || err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.c.files[fileID]) == 0 {
		return nil, nil
	}
	out := l.c.fileChunks(fileID)
	for i := range out {
		out[i].Attributes = maps.Clone(out[i].Attributes)
	}
	slices.SortStableFunc(out, func(a, b retrieval.Chunk) int { return cmp.Compare(a.Index, b.Index) })
	return out, nil
}

func (s *Store) readable(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("read: %w: store closed", retrieval.ErrUnavailable)
	}
	return ctx.Err()
}

func (s *Store) lookup(ctx context.Context, tenant, collection string) (*locked, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.colls[key{tenant, collection}], nil
}
