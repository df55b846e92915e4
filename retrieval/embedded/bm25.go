package embedded

import (
	"math"
	"sync"

	"github.com/ragway/ragway/retrieval/analysis"
)

// BM25 defaults: Lucene's. On the SciFact train judgements k1 in
// {0.9, 1.2} and b in {0.4, 0.6, 0.75} all score within 0.005 nDCG@10.
const (
	DefaultK1 = 1.2
	DefaultB  = 0.75
)

// posting is one document's frequency of a term.
type posting struct {
	doc uint32
	tf  uint32
}

// invertedIndex is a BM25 index over documents with dense ids. Removed
// documents stay in the posting lists until the collection is compacted;
// callers skip them and the index keeps document frequencies exact.
type invertedIndex struct {
	k1, b    float64
	postings map[string][]posting
	df       map[string]int
	docLen   []uint32
	docs     int // live documents
	totalLen int64

	scratch sync.Pool // *scoreScratch
}

func newInvertedIndex(k1, b float64) *invertedIndex {
	return &invertedIndex{k1: k1, b: b, postings: map[string][]posting{}, df: map[string]int{}}
}

// terms is the analysis shared by documents and queries.
func terms(text string) []string { return analysis.Terms(text) }

// counts returns each distinct term of ts with its frequency.
func counts(ts []string) map[string]uint32 {
	m := make(map[string]uint32, len(ts))
	for _, t := range ts {
		m[t]++
	}
	return m
}

// add indexes document id, which must be the next dense id.
func (ix *invertedIndex) add(id uint32, text string) {
	ts := terms(text)
	for len(ix.docLen) <= int(id) {
		ix.docLen = append(ix.docLen, 0)
	}
	ix.docLen[id] = uint32(len(ts))
	for t, n := range counts(ts) {
		ix.postings[t] = append(ix.postings[t], posting{id, n})
		ix.df[t]++
	}
	ix.docs++
	ix.totalLen += int64(len(ts))
}

// remove forgets document id for statistics; its postings remain until
// compaction and are skipped by the caller's liveness check.
func (ix *invertedIndex) remove(id uint32, text string) {
	for t := range counts(terms(text)) {
		if ix.df[t]--; ix.df[t] <= 0 {
			delete(ix.df, t)
		}
	}
	ix.docs--
	ix.totalLen -= int64(ix.docLen[id])
}

// scoreScratch accumulates scores per document for one query.
type scoreScratch struct {
	score   []float32
	touched []uint32
}

// score calls fn with every live document matching a query term and its
// BM25 score.
func (ix *invertedIndex) score(query string, alive func(uint32) bool, fn func(doc uint32, score float64)) {
	if ix.docs == 0 {
		return
	}
	qt := counts(terms(query))
	if len(qt) == 0 {
		return
	}
	sc, _ := ix.scratch.Get().(*scoreScratch)
	if sc == nil {
		sc = &scoreScratch{}
	}
	defer ix.scratch.Put(sc)
	if len(sc.score) < len(ix.docLen) {
		sc.score = make([]float32, len(ix.docLen))
	}
	sc.touched = sc.touched[:0]
	n := float64(ix.docs)
	avg := float64(ix.totalLen) / n
	if avg == 0 {
		avg = 1
	}
	for t, qtf := range qt {
		df := ix.df[t]
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (n-float64(df)+0.5)/(float64(df)+0.5))
		w := idf * float64(qtf)
		for _, p := range ix.postings[t] {
			if !alive(p.doc) {
				continue
			}
			tf := float64(p.tf)
			norm := ix.k1 * (1 - ix.b + ix.b*float64(ix.docLen[p.doc])/avg)
			if sc.score[p.doc] == 0 {
				sc.touched = append(sc.touched, p.doc)
			}
			sc.score[p.doc] += float32(w * tf * (ix.k1 + 1) / (tf + norm))
		}
	}
	for _, d := range sc.touched {
		fn(d, float64(sc.score[d]))
		sc.score[d] = 0
	}
}
