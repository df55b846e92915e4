package bench

import (
	"slices"
	"time"
)

// Summary describes a set of latency samples.
type Summary struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// Summarize sorts samples in place and returns their percentiles.
func Summarize(samples []time.Duration) Summary {
	slices.Sort(samples)
	if len(samples) == 0 {
		return Summary{}
	}
	return Summary{
		N:   len(samples),
		P50: Percentile(samples, 50),
		P99: Percentile(samples, 99),
		Max: samples[len(samples)-1],
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted samples
// by the nearest-rank method: the smallest sample with at least p percent
// of the samples at or below it. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	// Integer arithmetic on hundredths of a percent keeps 99 × 100 / 100
	// from rounding up to one sample too many.
	rank := (int64(p*100+0.5)*int64(n) + 9999) / 10000
	return sorted[max(rank, 1)-1]
}
