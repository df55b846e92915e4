package cached_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/embed/cached"
	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/batch"
)

// counting wraps an embedder, counting upstream calls and texts, and can
// fail texts that contain "fail" or hold calls until released.
type counting struct {
	next  embed.Embedder
	calls atomic.Int64
	texts atomic.Int64
	// gate, when set, holds every call until it is closed.
	gate    chan struct{}
	entered chan struct{}
	mu      sync.Mutex
	sizes   []int
}

func (c *counting) Info() embed.Info { return c.next.Info() }

func (c *counting) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.calls.Add(1)
	c.texts.Add(int64(len(texts)))
	c.mu.Lock()
	c.sizes = append(c.sizes, len(texts))
	c.mu.Unlock()
	if c.gate != nil {
		select {
		case c.entered <- struct{}{}:
		default:
		}
		<-c.gate
	}
	for _, t := range texts {
		if strings.Contains(t, "fail") {
			return nil, errors.New("upstream refused")
		}
	}
	return c.next.Embed(ctx, texts)
}

func newCounting() *counting {
	return &counting{next: lexical.New(lexical.Options{Dimensions: 32})}
}

func TestCacheHitsAvoidUpstream(t *testing.T) {
	up := newCounting()
	e := cached.New(up, cached.Options{})
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	require.Equal(t, up.Info(), e.Info())

	texts := []string{"the quick brown fox", "jumps over", "the quick brown fox"}
	first, err := e.Embed(context.Background(), texts)
	require.NoError(t, err)
	require.EqualValues(t, 1, up.calls.Load())
	require.EqualValues(t, 2, up.texts.Load(), "a text repeated in one call is embedded once")

	second, err := e.Embed(context.Background(), texts)
	require.NoError(t, err)
	require.Equal(t, first, second)
	require.EqualValues(t, 1, up.calls.Load(), "hits must not reach upstream")

	_, err = e.Embed(context.Background(), []string{"jumps over", "a lazy dog"})
	require.NoError(t, err)
	require.EqualValues(t, 2, up.calls.Load())
	require.EqualValues(t, 3, up.texts.Load(), "only the miss goes upstream")
	require.Equal(t, cached.Stats{Hits: 4, Misses: 4}, e.Stats())
}

func TestResultsMatchUnwrapped(t *testing.T) {
	plain := lexical.New(lexical.Options{Dimensions: 32})
	e := cached.New(newCounting(), cached.Options{Batch: batch.Config{MaxInputs: 3}})
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	texts := make([]string, 20)
	for i := range texts {
		texts[i] = fmt.Sprintf("document %d about topic %d", i, i%4)
	}
	want, err := plain.Embed(context.Background(), texts)
	require.NoError(t, err)
	for range 2 { // cold, then warm
		got, err := e.Embed(context.Background(), texts)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

func TestReturnedVectorsAreCopies(t *testing.T) {
	e := cached.New(newCounting(), cached.Options{})
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	a, err := e.Embed(context.Background(), []string{"hello world"})
	require.NoError(t, err)
	want := append([]float32(nil), a[0]...)
	for i := range a[0] {
		a[0][i] = 42
	}
	b, err := e.Embed(context.Background(), []string{"hello world"})
	require.NoError(t, err)
	require.Equal(t, want, b[0])
}

func TestCacheBoundedAndDisabled(t *testing.T) {
	up := newCounting()
	e := cached.New(up, cached.Options{Entries: 2})
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	for _, s := range []string{"a1", "b1", "c1", "a1"} {
		_, err := e.Embed(context.Background(), []string{s})
		require.NoError(t, err)
	}
	require.EqualValues(t, 4, up.calls.Load(), "a1 was evicted by c1")

	off := newCounting()
	d := cached.New(off, cached.Options{Entries: -1})
	t.Cleanup(func() { require.NoError(t, d.Close()) })
	for range 3 {
		_, err := d.Embed(context.Background(), []string{"same"})
		require.NoError(t, err)
	}
	require.EqualValues(t, 3, off.calls.Load())
}

func TestSplitsBigInputs(t *testing.T) {
	up := newCounting()
	e := cached.New(up, cached.Options{Batch: batch.Config{MaxInputs: 4}})
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	texts := make([]string, 10)
	for i := range texts {
		texts[i] = fmt.Sprintf("text %d", i)
	}
	_, err := e.Embed(context.Background(), texts)
	require.NoError(t, err)
	up.mu.Lock()
	defer up.mu.Unlock()
	require.Equal(t, []int{4, 4, 2}, up.sizes)
}

func TestCoalescesWhileBusy(t *testing.T) {
	up := newCounting()
	up.gate = make(chan struct{})
	up.entered = make(chan struct{}, 1)
	e := cached.New(up, cached.Options{Batch: batch.Config{MaxInputs: 64, MaxWait: time.Second}})
	t.Cleanup(func() { require.NoError(t, e.Close()) })

	var wg sync.WaitGroup
	results := make([][][]float32, 6)
	errs := make([]error, 6)
	call := func(i int) {
		defer wg.Done()
		results[i], errs[i] = e.Embed(context.Background(), []string{fmt.Sprintf("caller %d", i)})
	}
	wg.Add(1)
	go call(0)
	<-up.entered // the idle caller went upstream at once
	for i := 1; i < 6; i++ {
		wg.Add(1)
		go call(i)
	}
	require.Eventually(t, func() bool { return e.Stats().Misses == 6 }, 5*time.Second, time.Millisecond)
	close(up.gate)
	wg.Wait()
	plain := lexical.New(lexical.Options{Dimensions: 32})
	for i := range results {
		require.NoError(t, errs[i])
		want, err := plain.Embed(context.Background(), []string{fmt.Sprintf("caller %d", i)})
		require.NoError(t, err)
		require.Equal(t, want, results[i])
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	require.Equal(t, []int{1, 5}, up.sizes, "callers arriving during a call share the next one")
}

func TestErrorIsolation(t *testing.T) {
	up := newCounting()
	e := cached.New(up, cached.Options{Batch: batch.Config{MaxInputs: 2}})
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	_, err := e.Embed(context.Background(), []string{"please fail"})
	require.ErrorContains(t, err, "upstream refused")
	// A failure is not cached, and does not poison other texts.
	vs, err := e.Embed(context.Background(), []string{"fine text"})
	require.NoError(t, err)
	require.Len(t, vs, 1)
	_, err = e.Embed(context.Background(), []string{"please fail"})
	require.Error(t, err)
	require.Equal(t, cached.Stats{Hits: 0, Misses: 3}, e.Stats())
}

func TestConcurrent(t *testing.T) {
	plain := lexical.New(lexical.Options{Dimensions: 32})
	up := newCounting()
	e := cached.New(up, cached.Options{Entries: 50, Batch: batch.Config{MaxInputs: 8}})
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				texts := []string{fmt.Sprintf("t%d", (g*7+i)%80), fmt.Sprintf("t%d", i%80)}
				if g%5 == 0 && i%10 == 0 {
					texts = append(texts, "fail here")
				}
				got, err := e.Embed(context.Background(), texts)
				if strings.Contains(strings.Join(texts, " "), "fail") {
					if err == nil {
						errs <- errors.New("a failing text succeeded")
						return
					}
					continue
				}
				want, _ := plain.Embed(context.Background(), texts)
				if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
					errs <- fmt.Errorf("goroutine %d call %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestCanceledCallerReturns(t *testing.T) {
	up := newCounting()
	up.gate = make(chan struct{})
	up.entered = make(chan struct{}, 1)
	e := cached.New(up, cached.Options{})
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.Embed(ctx, []string{"slow"})
		done <- err
	}()
	<-up.entered
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	close(up.gate)
}

// miscounting returns one vector more or fewer than it was given texts.
type miscounting struct {
	next  embed.Embedder
	extra int
}

func (m miscounting) Info() embed.Info { return m.next.Info() }

func (m miscounting) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vs, err := m.next.Embed(ctx, texts)
	if err != nil {
		return nil, err
	}
	if m.extra > 0 {
		return append(vs, vs[0]), nil
	}
	return vs[:len(vs)-1], nil
}

func TestWrongVectorCountFails(t *testing.T) {
	for _, extra := range []int{1, -1} {
		t.Run(fmt.Sprint(extra), func(t *testing.T) {
			e := cached.New(miscounting{next: lexical.New(lexical.Options{}), extra: extra},
				cached.Options{Batch: batch.Config{MaxInputs: 1}})
			defer e.Close()
			vs, err := e.Embed(context.Background(), []string{"alpha", "beta"})
			require.ErrorIs(t, err, llm.ErrBadUpstream)
			require.Nil(t, vs)
		})
	}
}
