package batch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
)

type result struct {
	resp *llm.EmbedResponse
	err  error
}

// embedAsync calls Embed in a goroutine and returns where its result lands.
func embedAsync(ctx context.Context, b *Batcher, req *llm.EmbedRequest) <-chan result {
	ch := make(chan result, 1)
	go func() {
		resp, err := b.Embed(ctx, req)
		ch <- result{resp, err}
	}()
	return ch
}

func inputs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d%s", prefix, i, string(make([]byte, i%3)))
	}
	return out
}

func TestManyConcurrentCallers(t *testing.T) {
	f := &fakeEmbedder{}
	obs := &sizes{}
	b := New(f, Config{MaxInputs: 16, MaxWait: 5 * time.Millisecond, WaitWhenIdle: true}, obs)
	defer b.Close()

	const callers = 200
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		usage llm.Usage
		total int
	)
	for i := range callers {
		in := inputs(fmt.Sprintf("c%d", i), 1+i%23)
		model := []string{"small", "large"}[i%2]
		dims := []int{0, 256}[i%3%2]
		total += len(in)
		wg.Go(func() {
			resp, err := b.Embed(context.Background(), &llm.EmbedRequest{Model: model, Dimensions: dims, Input: in})
			if !assert.NoError(t, err) {
				return
			}
			assert.Equal(t, vecs(model, dims, in), resp.Vectors, "caller %d", i)
			assert.Equal(t, model+"-served", resp.Model)
			mu.Lock()
			usage.PromptTokens += resp.Usage.PromptTokens
			usage.CompletionTokens += resp.Usage.CompletionTokens
			usage.TotalTokens += resp.Usage.TotalTokens
			mu.Unlock()
		})
	}
	wg.Wait()

	require.Equal(t, f.Total(), usage, "apportioned usage adds up to the upstream's")
	calls := f.Calls()
	sent := 0
	for _, c := range calls {
		require.LessOrEqual(t, len(c.Input), 16)
		sent += len(c.Input)
	}
	require.Equal(t, total, sent)
	require.Less(t, len(calls), callers, "calls were coalesced")
	in, cs := obs.Get()
	require.Len(t, in, len(calls))
	require.Len(t, cs, len(calls))
}

func TestFlushWhenFull(t *testing.T) {
	f := &fakeEmbedder{}
	obs := &sizes{}
	b := New(f, Config{MaxInputs: 8, MaxWait: time.Hour, WaitWhenIdle: true}, obs)
	defer b.Close()

	var chans []<-chan result
	for i := range 4 {
		chans = append(chans, embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: inputs(fmt.Sprint(i), 2)}))
	}
	for i, ch := range chans {
		r := <-ch
		require.NoError(t, r.err)
		require.Equal(t, vecs("m", 0, inputs(fmt.Sprint(i), 2)), r.resp.Vectors)
	}
	require.Len(t, f.Calls(), 1)
	in, cs := obs.Get()
	require.Equal(t, []int{8}, in)
	require.Equal(t, []int{4}, cs)
}

func TestMaxWait(t *testing.T) {
	const wait = 20 * time.Millisecond
	f := &fakeEmbedder{}
	b := New(f, Config{MaxInputs: 64, MaxWait: wait, WaitWhenIdle: true}, nil)
	defer b.Close()
	start := time.Now()
	resp, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"lonely"}})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), wait)
	require.Equal(t, vecs("m", 0, []string{"lonely"}), resp.Vectors)
	require.Equal(t, usageFor([]string{"lonely"}), resp.Usage)
	require.Len(t, f.Calls(), 1)
}

func TestLargeCallerSplit(t *testing.T) {
	f := &fakeEmbedder{}
	obs := &sizes{}
	b := New(f, Config{MaxInputs: 4, MaxWait: time.Hour, WaitWhenIdle: true}, obs)
	defer b.Close()

	small := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: inputs("a", 3)})
	require.Eventually(t, func() bool { return b.pendingInputs("m") == 3 }, 5*time.Second, time.Millisecond)
	big := inputs("b", 9)
	resp, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: big})
	require.NoError(t, err)
	require.Equal(t, vecs("m", 0, big), resp.Vectors)
	r := <-small
	require.NoError(t, r.err)
	require.Equal(t, vecs("m", 0, inputs("a", 3)), r.resp.Vectors)

	in, cs := obs.Get()
	require.Equal(t, []int{4, 4, 4}, in)
	require.ElementsMatch(t, []int{2, 1, 1}, cs)
	sum := resp.Usage.PromptTokens + r.resp.Usage.PromptTokens
	require.Equal(t, f.Total().PromptTokens, sum)

	// Alone, a caller larger than a batch is split and reassembled in order.
	alone := inputs("c", 10)
	done := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: alone})
	require.Eventually(t, func() bool { return b.pendingInputs("m") == 2 }, 5*time.Second, time.Millisecond)
	// Fill the last batch so the test does not wait an hour.
	fill := inputs("d", 2)
	resp, err = b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: fill})
	require.NoError(t, err)
	require.Equal(t, vecs("m", 0, fill), resp.Vectors)
	r = <-done
	require.NoError(t, r.err)
	require.Equal(t, vecs("m", 0, alone), r.resp.Vectors)
}

func TestKeysDoNotMix(t *testing.T) {
	f := &fakeEmbedder{}
	b := New(f, Config{MaxInputs: 2, MaxWait: time.Hour, WaitWhenIdle: true}, nil)
	defer b.Close()
	a := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: []string{"x"}})
	c := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Dimensions: 8, Input: []string{"x"}})
	d := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "n", Input: []string{"x"}})
	require.Eventually(t, func() bool { return b.pendingInputs("m") == 1 && b.pendingInputs("n") == 1 }, 5*time.Second, time.Millisecond)
	require.Empty(t, f.Calls(), "nothing shares a batch")
	require.NoError(t, b.Close())
	for _, ch := range []<-chan result{a, c, d} {
		require.ErrorIs(t, (<-ch).err, llm.ErrUnavailable)
	}
}

func TestUser(t *testing.T) {
	tests := []struct {
		name  string
		users []string
		want  string
	}{
		{name: "same user kept", users: []string{"u1", "u1"}, want: "u1"},
		{name: "mixed users dropped", users: []string{"u1", "u2"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEmbedder{}
			b := New(f, Config{MaxInputs: 2, MaxWait: time.Hour, WaitWhenIdle: true}, nil)
			defer b.Close()
			first := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", User: tt.users[0], Input: []string{"a"}})
			require.Eventually(t, func() bool { return b.pendingInputs("m") == 1 }, 5*time.Second, time.Millisecond)
			_, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", User: tt.users[1], Input: []string{"b"}})
			require.NoError(t, err)
			require.NoError(t, (<-first).err)
			calls := f.Calls()
			require.Len(t, calls, 1)
			require.Equal(t, tt.want, calls[0].User)
		})
	}
}

func TestFailureIsolation(t *testing.T) {
	f := &fakeEmbedder{}
	b := New(f, Config{MaxInputs: 2, MaxWait: time.Hour, WaitWhenIdle: true}, nil)
	defer b.Close()

	a := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: []string{"fail"}})
	require.Eventually(t, func() bool { return b.pendingInputs("m") == 1 }, 5*time.Second, time.Millisecond)
	_, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"x"}})
	require.ErrorIs(t, err, errFake, "a caller shares its batch's failure")
	require.ErrorIs(t, (<-a).err, errFake)

	c := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: []string{"y"}})
	require.Eventually(t, func() bool { return b.pendingInputs("m") == 1 }, 5*time.Second, time.Millisecond)
	resp, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"z"}})
	require.NoError(t, err, "the next batch is unaffected")
	require.Equal(t, vecs("m", 0, []string{"z"}), resp.Vectors)
	require.NoError(t, (<-c).err)

	// A caller spread over two batches fails if either fails.
	_, err = b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"p", "q", "fail", "r"}})
	require.ErrorIs(t, err, errFake)
}

func TestBadUpstream(t *testing.T) {
	tests := []struct {
		name string
		f    *fakeEmbedder
	}{
		{name: "wrong vector count", f: &fakeEmbedder{wrongCount: true}},
		{name: "panic", f: &fakeEmbedder{panics: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.f, Config{MaxInputs: 2, MaxWait: time.Millisecond, WaitWhenIdle: true}, nil)
			defer b.Close()
			_, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"a", "b"}})
			require.ErrorIs(t, err, llm.ErrBadUpstream)
		})
	}
}

func TestCallerCancelled(t *testing.T) {
	f := &fakeEmbedder{gate: make(chan struct{})}
	b := New(f, Config{MaxInputs: 2, MaxWait: time.Hour, WaitWhenIdle: true}, nil)
	defer b.Close()

	ctx, cancel := context.WithCancel(t.Context())
	a := embedAsync(ctx, b, &llm.EmbedRequest{Model: "m", Input: []string{"a"}})
	require.Eventually(t, func() bool { return b.pendingInputs("m") == 1 }, 5*time.Second, time.Millisecond)
	other := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: []string{"b"}})
	require.Eventually(t, func() bool { return f.entered.Load() == 1 }, 5*time.Second, time.Millisecond)

	cancel()
	require.ErrorIs(t, (<-a).err, context.Canceled, "the cancelled caller returns at once")
	require.Zero(t, f.cancelled.Load(), "the upstream call goes on for the other caller")
	close(f.gate)
	r := <-other
	require.NoError(t, r.err)
	require.Equal(t, vecs("m", 0, []string{"b"}), r.resp.Vectors)
}

func TestAllCallersCancelled(t *testing.T) {
	f := &fakeEmbedder{gate: make(chan struct{})}
	b := New(f, Config{MaxInputs: 2, MaxWait: time.Hour, WaitWhenIdle: true}, nil)
	defer b.Close()

	ctx1, cancel1 := context.WithCancel(t.Context())
	ctx2, cancel2 := context.WithCancel(t.Context())
	a := embedAsync(ctx1, b, &llm.EmbedRequest{Model: "m", Input: []string{"a"}})
	require.Eventually(t, func() bool { return b.pendingInputs("m") == 1 }, 5*time.Second, time.Millisecond)
	c := embedAsync(ctx2, b, &llm.EmbedRequest{Model: "m", Input: []string{"b"}})
	require.Eventually(t, func() bool { return f.entered.Load() == 1 }, 5*time.Second, time.Millisecond)

	cancel1()
	require.ErrorIs(t, (<-a).err, context.Canceled)
	require.Zero(t, f.cancelled.Load())
	cancel2()
	require.ErrorIs(t, (<-c).err, context.Canceled)
	require.Eventually(t, func() bool { return f.cancelled.Load() == 1 }, 5*time.Second, time.Millisecond,
		"the upstream call is cancelled once every caller has gone")
}

func TestCancelledWhilePending(t *testing.T) {
	f := &fakeEmbedder{}
	b := New(f, Config{MaxInputs: 4, MaxWait: time.Hour, WaitWhenIdle: true}, nil)
	defer b.Close()

	ctx, cancel := context.WithCancel(t.Context())
	a := embedAsync(ctx, b, &llm.EmbedRequest{Model: "m", Input: []string{"a"}})
	require.Eventually(t, func() bool { return b.pendingInputs("m") == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, (<-a).err, context.Canceled)
	require.Zero(t, b.pendingInputs("m"), "the abandoned batch is dropped")

	_, err := b.Embed(ctx, &llm.EmbedRequest{Model: "m", Input: []string{"late"}})
	require.ErrorIs(t, err, context.Canceled, "a caller already gone does not join")

	// A new caller starts a fresh batch.
	var chans []<-chan result
	for i := range 2 {
		chans = append(chans, embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: inputs(fmt.Sprint(i), 2)}))
	}
	for _, ch := range chans {
		require.NoError(t, (<-ch).err)
	}
	calls := f.Calls()
	require.Len(t, calls, 1)
	require.NotContains(t, calls[0].Input, "a")
}

func TestClose(t *testing.T) {
	f := &fakeEmbedder{gate: make(chan struct{})}
	b := New(f, Config{MaxInputs: 2, MaxWait: time.Hour, WaitWhenIdle: true}, nil)

	flying := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: []string{"a", "b"}})
	require.Eventually(t, func() bool { return f.entered.Load() == 1 }, 5*time.Second, time.Millisecond)
	waiting := embedAsync(t.Context(), b, &llm.EmbedRequest{Model: "m", Input: []string{"c"}})
	require.Eventually(t, func() bool { return b.pendingInputs("m") == 1 }, 5*time.Second, time.Millisecond)

	require.NoError(t, b.Close())
	require.ErrorIs(t, (<-waiting).err, llm.ErrUnavailable)
	require.ErrorIs(t, (<-flying).err, llm.ErrUnavailable)
	require.Equal(t, int32(1), f.cancelled.Load())

	_, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"d"}})
	require.ErrorIs(t, err, llm.ErrUnavailable)
	require.NoError(t, b.Close(), "closing twice is fine")
}

func TestPassThrough(t *testing.T) {
	f := &fakeEmbedder{}
	obs := &sizes{}
	b := New(f, Config{MaxInputs: 1, MaxWait: time.Hour, WaitWhenIdle: true}, obs)
	defer b.Close()

	in := inputs("x", 5)
	resp, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: in, User: "u"})
	require.NoError(t, err)
	require.Equal(t, vecs("m", 0, in), resp.Vectors)
	require.Equal(t, []llm.EmbedRequest{{Model: "m", Input: in, User: "u"}}, f.Calls())
	in2, _ := obs.Get()
	require.Empty(t, in2, "batching is off")

	gen, err := b.Generate(t.Context(), &llm.Request{})
	require.NoError(t, err)
	require.Equal(t, "generated", gen.Model)
	_, err = b.GenerateStream(t.Context(), &llm.Request{})
	require.ErrorIs(t, err, llm.ErrUnavailable)
	models, err := b.Models(t.Context())
	require.NoError(t, err)
	require.Equal(t, []llm.Model{{ID: "m"}}, models)

	batched := New(f, Config{}, nil)
	defer batched.Close()
	resp, err = batched.Embed(t.Context(), &llm.EmbedRequest{Model: "m"})
	require.NoError(t, err, "an empty input goes straight through")
	require.Empty(t, resp.Vectors)
}

func TestIdleCallerSentAtOnceAndLaterOnesBatched(t *testing.T) {
	f := &fakeEmbedder{gate: make(chan struct{})}
	b := New(f, Config{MaxInputs: 64, MaxWait: time.Hour}, nil)
	defer b.Close()
	first := make(chan error, 1)
	go func() {
		_, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"first"}})
		first <- err
	}()
	// The lone caller reaches the upstream although MaxWait is an hour.
	require.Eventually(t, func() bool { return f.entered.Load() == 1 }, 5*time.Second, time.Millisecond)

	// While it runs, later callers queue behind it as one batch.
	results := make(chan []float32, 3)
	for i := 0; i < 3; i++ {
		go func() {
			resp, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{fmt.Sprint("later", i)}})
			if err != nil {
				results <- nil
				return
			}
			results <- resp.Vectors[0]
		}()
	}
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		bt := b.pending[key{model: "m"}]
		return bt != nil && len(bt.inputs) == 3
	}, 5*time.Second, time.Millisecond)
	require.Equal(t, int32(1), f.entered.Load(), "later callers must wait for the batch, not go alone")
	close(f.gate)
	require.NoError(t, <-first)
	// The second batch waits (MaxWait is an hour) until it is full: fill it.
	fill := make([]string, 61)
	for i := range fill {
		fill[i] = fmt.Sprint("fill", i)
	}
	_, err := b.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: fill})
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		require.NotNil(t, <-results)
	}
	calls := f.Calls()
	require.Len(t, calls, 2)
	require.Len(t, calls[1].Input, 64)
}
