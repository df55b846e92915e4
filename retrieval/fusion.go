package retrieval

import (
	"slices"
	"sort"
)

// RRFK is the usual reciprocal rank fusion constant.
const RRFK = 60

// FuseRRF merges ranked lists by reciprocal rank fusion: a chunk's score is
// the sum over lists of 1/(k + rank), rank counted from 1. It returns at most
// limit results, best first; ties keep the order of first appearance.
func FuseRRF(k, limit int, lists ...[]Result) []Result {
	if k <= 0 {
		k = RRFK
	}
	type entry struct {
		r     Result
		score float64
		first int
	}
	byID := map[string]*entry{}
	order := 0
	for _, list := range lists {
		for rank, r := range list {
			e, ok := byID[r.ID]
			if !ok {
				e = &entry{r: r, first: order}
				order++
				byID[r.ID] = e
			}
			e.score += 1 / float64(k+rank+1)
		}
	}
	out := make([]*entry, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].score != out[j].score {
			return out[i].score > out[j].score
		}
		return out[i].first < out[j].first
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	res := make([]Result, len(out))
	for i, e := range out {
		res[i] = e.r
		res[i].Score = e.score
	}
	return res
}

// FuseWeighted combines a lexical and a vector list by a weighted sum of
// scores, each divided by its list's best score; a chunk missing from a list
// scores 0 there. lexWeight is the lexical share (the vector list gets the
// rest). It returns at most k results, best first; ties keep the order of
// first appearance.
func FuseWeighted(k int, lexWeight float64, lex, vec []Result) []Result {
	type entry struct {
		r     Result
		score float64
		first int
	}
	byID := map[string]*entry{}
	var order []*entry
	add := func(list []Result, w float64) {
		if len(list) == 0 || list[0].Score <= 0 {
			return
		}
		top := list[0].Score
		for _, r := range list {
			e := byID[r.ID]
			if e == nil {
				e = &entry{r: r, first: len(order)}
				byID[r.ID] = e
				order = append(order, e)
			}
			if r.Score > 0 {
				e.score += w * r.Score / top
			}
		}
	}
	add(lex, lexWeight)
	add(vec, 1-lexWeight)
	slices.SortStableFunc(order, func(a, b *entry) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return a.first - b.first
	})
	if len(order) > k {
		order = order[:k]
	}
	out := make([]Result, len(order))
	for i, e := range order {
		out[i] = e.r
		out[i].Score = e.score
	}
	return out
}
