package batch

import (
	"math/bits"

	"github.com/ragway/ragway/llm"
)

// splitUsage apportions a batch's usage to its segments in proportion to the
// bytes of their inputs, or to their input counts when every input is
// empty. Each field is split on its own and the shares of a field add up to
// its total exactly.
func splitUsage(total llm.Usage, segs []segment, inputs []string) []llm.Usage {
	weights := make([]uint64, len(segs))
	var sum uint64
	for i, s := range segs {
		for _, in := range inputs[s.at : s.at+s.n] {
			weights[i] += uint64(len(in))
		}
		sum += weights[i]
	}
	if sum == 0 {
		for i, s := range segs {
			weights[i] = uint64(s.n)
		}
	}
	shares := make([]llm.Usage, len(segs))
	apportion(total.PromptTokens, weights, func(i, v int) { shares[i].PromptTokens = v })
	apportion(total.CompletionTokens, weights, func(i, v int) { shares[i].CompletionTokens = v })
	apportion(total.TotalTokens, weights, func(i, v int) { shares[i].TotalTokens = v })
	return shares
}

// apportion splits total over weights by cumulative rounding: share i is
// floor(total*W_i/W) - floor(total*W_(i-1)/W), where W_i is the sum of the
// first i+1 weights and W their sum. The shares add up to total exactly and
// each is within one of its exact proportion. With no weight at all the
// whole total goes to the first share.
func apportion(total int, weights []uint64, set func(i, v int)) {
	if len(weights) == 0 {
		return
	}
	var sum uint64
	for _, w := range weights {
		sum += w
	}
	if sum == 0 {
		set(0, total)
		for i := 1; i < len(weights); i++ {
			set(i, 0)
		}
		return
	}
	neg := total < 0
	abs := uint64(total)
	if neg {
		abs = -abs
	}
	var cum, prev uint64
	for i, w := range weights {
		cum += w
		hi, lo := bits.Mul64(abs, cum)
		upto, _ := bits.Div64(hi, lo, sum) // hi < sum because cum <= sum
		share := upto - prev
		prev = upto
		if neg {
			share = -share
		}
		set(i, int(share))
	}
}
