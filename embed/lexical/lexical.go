// Package lexical is the built-in embedder that needs no model: feature
// hashing of word unigrams and word bigrams into a fixed number of
// dimensions.
//
// A text is split into lowercased words of letters and digits (see Tokens).
// English stopwords are dropped, light suffix stripping is applied (plural
// "-s", "-es", "-ies"), and every remaining word and every pair of adjacent
// remaining words is hashed with 64-bit FNV-1a. The hash picks a dimension
// and a sign, so colliding features tend to cancel rather than pile up. A
// feature seen tf times weighs 1+ln(tf); bigrams weigh BigramWeight
// (default 0.25) times a unigram, and join adjacent words only, never across
// a stopword. The vector is L2-normalised.
//
// More dimensions mean fewer collisions: brute-force cosine retrieval on
// SciFact scores nDCG@10 0.417 at 384 dimensions, 0.489 at 1024 and 0.539
// at 4096 (BM25 scores 0.665). There is no corpus statistics (idf), which is
// most of the gap.
//
// Vectors are deterministic: the same text gives the same vector in every
// process, on every platform. A text with no words left after stopword
// removal (empty, punctuation, "the of and") embeds to the zero vector.
// Cosine similarity with a zero vector is undefined; stores score it as 0,
// so such a text matches nothing, which is what it means.
package lexical

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/ragway/ragway/embed"
)

// Model and version reported in Info.
const (
	Model   = "ragway-lexical"
	Version = "1"
)

// Defaults and bounds.
const (
	DefaultDimensions   = 384
	MaxDimensions       = 1 << 16
	DefaultBigramWeight = 0.25
)

var _ embed.Embedder = (*Embedder)(nil)

// Options configure an Embedder. The zero value gives the defaults.
type Options struct {
	// Dimensions is the vector length; 0 means DefaultDimensions. Values
	// above MaxDimensions are reduced to it.
	Dimensions int
	// BigramWeight is the weight of a word bigram relative to a word; 0
	// means DefaultBigramWeight and a negative value turns bigrams off.
	BigramWeight float64
}

// Embedder is the lexical hashing embedder. It is safe for concurrent use.
type Embedder struct {
	dims   int
	bigram float32
	info   embed.Info
	pool   sync.Pool // *state
}

// state is the scratch space of one embedding, reused across calls.
type state struct {
	sc      scanner
	uni, bi []uint64
}

// maxPooledHashes bounds the scratch slices kept for reuse after a very
// long text.
const maxPooledHashes = 1 << 16

// New returns an Embedder with the given options.
func New(o Options) *Embedder {
	d := o.Dimensions
	switch {
	case d <= 0:
		d = DefaultDimensions
	case d > MaxDimensions:
		d = MaxDimensions
	}
	bw := o.BigramWeight
	switch {
	case bw == 0 || math.IsNaN(bw) || math.IsInf(bw, 0):
		bw = DefaultBigramWeight
	case bw < 0:
		bw = 0
	}
	version := Version
	if bw != DefaultBigramWeight {
		// A different weighting is a different vector space.
		version += "+bigram" + strconv.FormatFloat(bw, 'g', 4, 64)
	}
	e := &Embedder{
		dims:   d,
		bigram: float32(bw),
		info:   embed.Info{Model: Model, Version: version, Dimensions: d},
	}
	e.pool.New = func() any {
		return &state{sc: scanner{buf: make([]byte, 0, maxTokenBytes+8)}}
	}
	return e
}

// Info implements embed.Embedder.
func (e *Embedder) Info() embed.Info { return e.info }

// Embed implements embed.Embedder. The vectors share one allocation.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	block := make([]float32, len(texts)*e.dims)
	st := e.pool.Get().(*state)
	defer e.put(st)
	for i, t := range texts {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("lexical embed: %w", err)
			}
		}
		v := block[i*e.dims : (i+1)*e.dims : (i+1)*e.dims]
		e.embed(st, t, v)
		out[i] = v
	}
	return out, nil
}

// EmbedText returns the vector of one text.
func (e *Embedder) EmbedText(text string) []float32 {
	return e.EmbedInto(nil, text)
}

// EmbedInto writes the vector of text into dst, growing it only when its
// capacity is below Info().Dimensions, and returns it. With a reused dst it
// does not allocate.
func (e *Embedder) EmbedInto(dst []float32, text string) []float32 {
	if cap(dst) < e.dims {
		dst = make([]float32, e.dims)
	}
	dst = dst[:e.dims]
	st := e.pool.Get().(*state)
	e.embed(st, text, dst)
	e.put(st)
	return dst
}

func (e *Embedder) put(st *state) {
	if cap(st.uni) > maxPooledHashes || cap(st.bi) > maxPooledHashes {
		st.uni, st.bi = nil, nil
	}
	st.sc.s = ""
	e.pool.Put(st)
}

// embed writes the normalised vector of text into v.
func (e *Embedder) embed(st *state, text string, v []float32) {
	clear(v)
	st.uni, st.bi = st.uni[:0], st.bi[:0]
	st.sc.reset(text)
	var prev uint64
	havePrev := false
	for {
		tok, ok := st.sc.next()
		if !ok {
			break
		}
		if isStopword(tok) {
			// "rate of growth" gives no "rate growth" bigram.
			havePrev = false
			continue
		}
		h := hashBytes(stem(tok))
		st.uni = append(st.uni, h)
		if havePrev && e.bigram > 0 {
			st.bi = append(st.bi, pairHash(prev, h))
		}
		prev, havePrev = h, true
	}
	e.accumulate(v, st.uni, 1)
	e.accumulate(v, st.bi, e.bigram)
	normalise(v)
}

// accumulate adds w*(1+ln tf) for every distinct hash, with the sign the
// hash chooses. It sorts hashes in place.
func (e *Embedder) accumulate(v []float32, hashes []uint64, w float32) {
	if w == 0 || len(hashes) == 0 {
		return
	}
	slices.Sort(hashes)
	d := uint64(len(v))
	for i := 0; i < len(hashes); {
		h := hashes[i]
		j := i + 1
		for j < len(hashes) && hashes[j] == h {
			j++
		}
		x := w * (1 + float32(math.Log(float64(j-i))))

		if h>>63 != 0 {
			x = -x
		}
		v[(h&(1<<63-1))%d] += x
		i = j
	}
}

func normalise(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}

// FNV-1a 64-bit parameters.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashBytes is FNV-1a over b followed by a 64-bit finaliser, so that every
// output bit depends on every input byte.
func hashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix(h)
}

// pairHash combines two word hashes, order-sensitively, into a bigram hash.
func pairHash(a, b uint64) uint64 {
	return mix(a*0x9e3779b97f4a7c15 ^ (b<<31 | b>>33) ^ 0x5851f42d4c957f2d)
}

// mix is the MurmurHash3 64-bit finaliser.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
