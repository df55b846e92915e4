package retrieval

import "sort"

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
