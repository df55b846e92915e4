package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func durations(ns ...int) []time.Duration {
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n)
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	thousand := make([]time.Duration, 1000)
	for i := range thousand {
		thousand[i] = time.Duration(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", durations(7), 50, 7},
		{"one sample p99", durations(7), 99, 7},
		{"two samples p50", durations(1, 2), 50, 1},
		{"two samples p99", durations(1, 2), 99, 2},
		{"hundred p50", hundred, 50, 50},
		{"hundred p99", hundred, 99, 99},
		{"hundred p100", hundred, 100, 100},
		{"hundred p0", hundred, 0, 1},
		{"thousand p99", thousand, 99, 990},
		{"thousand p99.9", thousand, 99.9, 999},
		{"thousand p50", thousand, 50, 500},
		{"ten p95 rounds up", durations(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10},
		{"ten p90", durations(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Percentile(tt.sorted, tt.p))
		})
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize(durations(5, 3, 9, 1, 7))
	require.Equal(t, Summary{N: 5, P50: 5, P99: 9, Max: 9}, s)
	require.Equal(t, Summary{}, Summarize(nil))

	// A slow outlier moves p99 but not p50.
	samples := make([]time.Duration, 0, 200)
	for range 197 {
		samples = append(samples, 10*time.Microsecond)
	}
	samples = append(samples, 3*time.Millisecond, time.Millisecond, 2*time.Millisecond)
	s = Summarize(samples)
	require.Equal(t, 10*time.Microsecond, s.P50)
	require.Equal(t, time.Millisecond, s.P99, "the 198th of 200")
	require.Equal(t, 3*time.Millisecond, s.Max)
}
