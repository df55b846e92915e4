package embedded

import "golang.org/x/sys/cpu"

var useFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotFMA is the inner product of the first n values of a and b, n a
// multiple of 32, with AVX2 and FMA.
//
//go:noescape
func dotFMA(a, b *float32, n int) float32

// dot is the inner product of two equal-length vectors.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	n := len(a) &^ 31
	if !useFMA || n == 0 {
		return dotGo(a, b)
	}
	return dotFMA(&a[0], &b[0], n) + dotGo(a[n:], b[n:])
}
