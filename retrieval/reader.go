package retrieval

import (
	"cmp"
	"context"
	"slices"
	"strings"
)

// CollectionRef names one collection of one tenant.
type CollectionRef struct {
	Tenant     string
	Collection string
}

// FileInfo is one indexed file of a collection and its number of chunks.
type FileInfo struct {
	ID     string
	Chunks int
}

// Reader reads a store's contents back, vectors included, so a collection
// can move between stores without re-embedding and a file's chunks can be
// shown. Every store implements it.
type Reader interface {
	// Collections lists every collection holding at least one chunk,
	// sorted by tenant then collection.
	Collections(ctx context.Context) ([]CollectionRef, error)
	// Files lists the collection's files, sorted by id. A collection that
	// does not exist has none.
	Files(ctx context.Context, tenant, collection string) ([]FileInfo, error)
	// FileChunks returns one file's chunks in index order, vectors
	// included; none when the file is not indexed.
	FileChunks(ctx context.Context, tenant, collection, fileID string) ([]Chunk, error)
}

// Count sums a collection's files and chunks as r lists them.
func Count(ctx context.Context, r Reader, tenant, collection string) (files, chunks int, err error) {
	fs, err := r.Files(ctx, tenant, collection)
	if err != nil {
		return 0, 0, err
	}
	for _, f := range fs {
		chunks += f.Chunks
	}
	return len(fs), chunks, nil
}

// SortFiles sorts files by id, for stores whose listing is unordered.
func SortFiles(fs []FileInfo) {
	slices.SortFunc(fs, func(a, b FileInfo) int { return strings.Compare(a.ID, b.ID) })
}

// SortCollections sorts refs by tenant then collection.
func SortCollections(refs []CollectionRef) {
	slices.SortFunc(refs, func(a, b CollectionRef) int {
		return cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.Collection, b.Collection))
	})
}
