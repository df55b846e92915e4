package bench

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStoreCallsBetween(t *testing.T) {
	before := storeSnapshot{count: 10, sum: 0.001, buckets: map[float64]uint64{100e-6: 10, 200e-6: 10, 400e-6: 10, math.Inf(1): 10}}
	// 100 more calls: 20 under 100 µs, 60 in (100, 200], 20 in (200, 400].
	after := storeSnapshot{count: 110, sum: 0.001 + 0.015, buckets: map[float64]uint64{100e-6: 30, 200e-6: 90, 400e-6: 110, math.Inf(1): 110}}
	sc := storeCallsBetween(before, after, 100)
	require.InDelta(t, 1.0, sc.PerRequest, 1e-9)
	require.Equal(t, 150*time.Microsecond, sc.Mean.Round(time.Microsecond))
	// The 50th of 100 lies 30 into the 60 of the (100, 200] bucket.
	require.Equal(t, 150*time.Microsecond, sc.P50.Round(time.Microsecond))

	require.Zero(t, storeCallsBetween(before, before, 100), "no calls, no figures")
	sc = storeCallsBetween(before, after, 50)
	require.InDelta(t, 2.0, sc.PerRequest, 1e-9)
}
