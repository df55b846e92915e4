package embedded

import (
	"maps"

	"github.com/ragway/ragway/retrieval"
)

// compactMin is the number of removed chunks below which a collection is
// never rebuilt.
const compactMin = 1024

// collection is the index of one tenant's collection. Chunks have dense
// slot ids shared by the graph and the inverted index; a removed chunk
// leaves a nil slot until the collection is compacted.
type collection struct {
	opts   *Options
	dim    int
	chunks []*retrieval.Chunk // Vector is nil: vectors live in the graph
	files  map[string][]uint32
	live   int
	dead   int
	g      *graph
	ix     *invertedIndex
}

func newCollection(opts *Options) *collection {
	return &collection{opts: opts, files: map[string][]uint32{}, ix: newInvertedIndex(opts.K1, opts.B)}
}

func (c *collection) alive(id uint32) bool { return c.chunks[id] != nil }

// replace swaps the chunks of a file. Chunks are validated, owned by the
// collection and carry normalised vectors of the collection's dimension.
// The caller holds the collection's write lock.
func (c *collection) replace(fileID string, chunks []retrieval.Chunk) {
	for _, id := range c.files[fileID] {
		c.ix.remove(id, c.chunks[id].Text)
		c.chunks[id] = nil
		c.live--
		c.dead++
	}
	delete(c.files, fileID)
	if c.live == 0 {
		c.reset()
	}
	if len(chunks) == 0 {
		c.maybeCompact()
		return
	}
	if c.g == nil {
		c.dim = len(chunks[0].Vector)
		c.g = newGraph(c.dim, c.opts.M, c.opts.EfConstruction, uint64(len(c.chunks))+1)
	}
	ids := make([]uint32, len(chunks))
	for i := range chunks {
		ids[i] = c.insert(&chunks[i])
	}
	c.files[fileID] = ids
	c.maybeCompact()
}

func (c *collection) insert(ch *retrieval.Chunk) uint32 {
	id := c.g.add(ch.Vector)
	c.ix.add(id, ch.Text)
	ch.Vector = nil
	c.chunks = append(c.chunks, ch)
	c.live++
	return id
}

// reset empties the collection, forgetting its dimension.
func (c *collection) reset() {
	c.chunks, c.g, c.dim, c.live, c.dead = nil, nil, 0, 0, 0
	c.files = map[string][]uint32{}
	c.ix = newInvertedIndex(c.opts.K1, c.opts.B)
}

// maybeCompact rebuilds the graph and index without removed chunks once
// they outnumber the live ones.
func (c *collection) maybeCompact() {
	if c.dead < compactMin || c.dead < c.live {
		return
	}
	old := *c
	c.reset()
	c.dim = old.dim
	c.g = newGraph(c.dim, c.opts.M, c.opts.EfConstruction, uint64(len(old.chunks)))
	for fileID, ids := range old.files {
		nids := make([]uint32, len(ids))
		for i, id := range ids {
			ch := old.chunks[id]
			ch.Vector = old.g.vec(id)
			nids[i] = c.insert(ch)
		}
		c.files[fileID] = nids
	}
}

// result copies slot id out as a search result.
func (c *collection) result(id uint32, score float64) retrieval.Result {
	ch := *c.chunks[id]
	ch.Attributes = maps.Clone(ch.Attributes)
	return retrieval.Result{Chunk: ch, Score: score}
}

// fileChunks returns copies of a file's chunks with their vectors, for
// rewriting the log.
func (c *collection) fileChunks(fileID string) []retrieval.Chunk {
	ids := c.files[fileID]
	out := make([]retrieval.Chunk, len(ids))
	for i, id := range ids {
		out[i] = *c.chunks[id]
		out[i].Vector = c.g.vec(id)
	}
	return out
}
