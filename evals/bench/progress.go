package bench

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports each phase on a writer: a progress bar on a terminal,
// one line at the start and one at the end otherwise.
type progress struct {
	w    io.Writer
	bars bool
}

// track shows desc until the returned stop is called. total is the number
// of steps (0 for a timed phase of d); current, when not nil, reports the
// steps done.
func (p progress) track(desc string, total int64, d time.Duration, current func() int64) (stop func()) {
	if p.w == nil {
		return func() {}
	}
	start := time.Now()
	if !p.bars {
		fmt.Fprintf(p.w, "bench: %s...\n", desc)
		return func() {
			if current == nil {
				fmt.Fprintf(p.w, "bench: %s: done in %.1fs\n", desc, time.Since(start).Seconds())
				return
			}
			fmt.Fprintf(p.w, "bench: %s: %d done in %.1fs\n", desc, current(), time.Since(start).Seconds())
		}
	}
	steps := total
	if steps <= 0 {
		steps = max(int64(d/(100*time.Millisecond)), 1)
	}
	bar := progressbar.NewOptions64(steps,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	)
	value := func() int64 {
		if total > 0 && current != nil {
			return current()
		}
		return min(int64(time.Since(start)/(100*time.Millisecond)), steps)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = bar.Set64(value())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		_ = bar.Set64(steps)
		_ = bar.Finish()
	}
}
