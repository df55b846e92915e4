package embedded

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 31, 32, 33, 64, 100, 384, 1000} {
		a, b := make([]float32, n), make([]float32, n)
		var want float64
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			want += float64(a[i]) * float64(b[i])
		}
		require.InDelta(t, want, float64(dot(a, b)), 1e-3, "n=%d", n)
		require.InDelta(t, want, float64(dotGo(a, b)), 1e-3, "n=%d", n)
	}
}

func BenchmarkDot(b *testing.B) {
	x, y := make([]float32, 384), make([]float32, 384)
	for i := range x {
		x[i], y[i] = float32(i), float32(384-i)
	}
	for b.Loop() {
		dot(x, y)
	}
}
