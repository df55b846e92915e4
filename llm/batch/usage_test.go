package batch

import (
	"encoding/binary"
	"math"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

func shares(total int, weights []uint64) []int {
	out := make([]int, len(weights))
	apportion(total, weights, func(i, v int) { out[i] = v })
	return out
}

func TestApportion(t *testing.T) {
	tests := []struct {
		name    string
		total   int
		weights []uint64
		want    []int
	}{
		{name: "even", total: 9, weights: []uint64{1, 1, 1}, want: []int{3, 3, 3}},
		{name: "remainder", total: 10, weights: []uint64{1, 1, 1}, want: []int{3, 3, 4}},
		{name: "proportional", total: 100, weights: []uint64{1, 3}, want: []int{25, 75}},
		{name: "zero weight gets nothing", total: 7, weights: []uint64{0, 5, 0}, want: []int{0, 7, 0}},
		{name: "no weight at all", total: 7, weights: []uint64{0, 0}, want: []int{7, 0}},
		{name: "zero total", total: 0, weights: []uint64{4, 2}, want: []int{0, 0}},
		{name: "negative", total: -10, weights: []uint64{1, 1, 1}, want: []int{-3, -3, -4}},
		{name: "huge", total: math.MaxInt, weights: []uint64{math.MaxUint32, math.MaxUint32}, want: []int{math.MaxInt / 2, math.MaxInt/2 + 1}},
		{name: "empty", total: 5, weights: nil, want: []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, shares(tt.total, tt.weights))
		})
	}
}

func TestSplitUsage(t *testing.T) {
	inputs := []string{"aaaa", "bb", "cc", "", ""}
	segs := []segment{{at: 0, n: 1}, {at: 1, n: 2}, {at: 3, n: 2}}
	got := splitUsage(llm.Usage{PromptTokens: 80, TotalTokens: 81, CompletionTokens: 3}, segs, inputs)
	require.Equal(t, []llm.Usage{
		{PromptTokens: 40, TotalTokens: 40, CompletionTokens: 1},
		{PromptTokens: 40, TotalTokens: 41, CompletionTokens: 2},
		{},
	}, got)

	// Every input empty: split by input count.
	got = splitUsage(llm.Usage{PromptTokens: 6}, []segment{{at: 0, n: 1}, {at: 1, n: 2}}, []string{"", "", ""})
	require.Equal(t, []llm.Usage{{PromptTokens: 2}, {PromptTokens: 4}}, got)
}

// FuzzApportion checks that shares add up to the total and stay within one
// token of their exact proportion.
func FuzzApportion(f *testing.F) {
	f.Add(int64(10), []byte{1, 0, 1, 0, 1, 0})
	f.Add(int64(-7), []byte{0, 0, 3, 0})
	f.Add(int64(math.MaxInt64), []byte{255, 255, 255, 255, 1, 0})
	f.Add(int64(math.MinInt64), []byte{9, 9})
	f.Fuzz(func(t *testing.T, total int64, raw []byte) {
		if len(raw) > 512 {
			raw = raw[:512]
		}
		weights := make([]uint64, len(raw)/2)
		var sum uint64
		for i := range weights {
			weights[i] = uint64(binary.LittleEndian.Uint16(raw[2*i:]))
			sum += weights[i]
		}
		got := shares(int(total), weights)
		if len(weights) == 0 {
			require.Empty(t, got)
			return
		}
		acc := new(big.Int)
		for i, s := range got {
			acc.Add(acc, big.NewInt(int64(s)))
			if sum == 0 {
				continue
			}
			// |s - total*w/sum| < 1, i.e. |s*sum - total*w| < sum.
			diff := new(big.Int).Mul(big.NewInt(int64(s)), new(big.Int).SetUint64(sum))
			diff.Sub(diff, new(big.Int).Mul(big.NewInt(total), new(big.Int).SetUint64(weights[i])))
			require.Negative(t, diff.CmpAbs(new(big.Int).SetUint64(sum)), "share %d = %d of %d by %v", i, s, total, weights)
		}
		require.Zero(t, acc.Cmp(big.NewInt(total)), "shares %v do not add up to %d", got, total)
	})
}
