// Package heapfloor keeps the Go heap goal from falling under a floor, so
// that a process with a small live heap does not collect garbage every few
// megabytes of allocation.
//
// The runtime sets the heap goal to live heap × (1 + GOGC/100), but never
// under 4 MB × GOGC/100. A gateway keeps about 1 MB live and allocates a
// dozen kilobytes per request, so with the defaults it collects every two
// hundred requests, and on a one-CPU pinning each collection delays the few
// requests that overlap it by hundreds of microseconds: that is most of the
// gateway's p98 and p99 latency at concurrency 1.
//
// A Floor raises GOGC while the live heap is small, just enough for the goal
// to reach the floor (the runtime's minimum scales with GOGC, so a live heap
// under 4 MB needs GOGC = floor / 4 MB × 100), and lets it fall back to the base percent as the live
// heap grows past the floor, so a large live heap costs no extra memory. It
// re-reads the live heap after every collection.
package heapfloor

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultBytes is the floor the gateway keeps unless configured otherwise.
// It halves collections at a 1 MB live heap and costs about 4 MB of
// resident memory over the runtime's own 4 MB minimum. (12 MiB cut them
// threefold, but took the benchmark's peak RSS, which also counts the
// binary's mapped pages and varies by several MB between runs, to 53–61 MB
// against its 60 MB target.)
const DefaultBytes = 8 << 20

// maxPercent bounds the GOGC a floor sets, for a live heap near zero.
const maxPercent = 10000

// liveMetric is the runtime's live heap after the last collection.
const liveMetric = "/gc/heap/live:bytes"

// Floor keeps the heap goal at or over Bytes. Stop it to return to the base
// percent.
type Floor struct {
	bytes uint64
	base  int

	mu      sync.Mutex
	stopped bool
	percent int
	sample  []metrics.Sample
}

// Start keeps the heap goal at or over bytes and returns the Floor, or nil
// when it does nothing: bytes ≤ 0, or GOGC set in the environment (an
// explicit choice of the operator wins). The base percent is the one in
// force when Start is called.
func Start(bytes int64) *Floor {
	if bytes <= 0 || os.Getenv("GOGC") != "" {
		return nil
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base <= 0 {
		return nil
	}
	f := &Floor{
		bytes:   uint64(bytes),
		base:    base,
		percent: base,
		sample:  []metrics.Sample{{Name: liveMetric}},
	}
	f.adjust()
	f.arm()
	return f
}

// Percent is the GOGC the floor set last.
func (f *Floor) Percent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.percent
}

// Stop restores the base percent; collections after it leave GOGC alone.
func (f *Floor) Stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	debug.SetGCPercent(f.base)
	f.percent = f.base
}

// sentinel is a heap object whose finalizer runs once per collection. It
// holds a pointer so that it is never batched by the tiny allocator, whose
// objects may be finalized late.
type sentinel struct {
	f *Floor
	_ [16]byte
}

// arm sets a sentinel that adjusts the percent after the next collection
// and arms the next one.
func (f *Floor) arm() {
	s := &sentinel{f: f}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.f.adjust() {
			s.f.arm()
		}
	})
}

// adjust sets GOGC for the live heap just measured and reports whether the
// floor still runs.
func (f *Floor) adjust() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	metrics.Read(f.sample)
	live := uint64(0)
	if f.sample[0].Value.Kind() == metrics.KindUint64 {
		live = f.sample[0].Value.Uint64()
	}
	p := PercentFor(f.bytes, live, f.base)
	// Small moves are not worth a pacer update.
	if p != f.percent && math.Abs(float64(p-f.percent)) >= float64(f.percent)/20 {
		debug.SetGCPercent(p)
		f.percent = p
	}
	return true
}

// runtimeMinimum is the runtime's minimum heap goal at GOGC=100; it scales
// with GOGC.
const runtimeMinimum = 4 << 20

// PercentFor is the smallest GOGC that makes the heap goal reach floor,
// but never under base nor over 10000. The goal is the larger of
// live × (1 + GOGC/100) and the runtime's minimum, 4 MB × GOGC/100.
func PercentFor(floor, live uint64, base int) int {
	if live == 0 {
		live = 1
	}
	if live >= floor {
		return base
	}
	p := min((float64(floor)/float64(live)-1)*100, float64(floor)/runtimeMinimum*100)
	switch {
	case p <= float64(base):
		return base
	case p >= maxPercent:
		return maxPercent
	}
	return int(math.Ceil(p - 1e-9))
}
