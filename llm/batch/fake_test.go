package batch

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/ragway/ragway/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errFake = errors.New("fake embed failed")

// vec is the fake's embedding of text: a mix-up between callers shows.
func vec(model string, dims int, text string) []float32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(model))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(text))
	return []float32{float32(h.Sum32() % 1_000_003), float32(len(text)), float32(dims)}
}

func vecs(model string, dims int, texts []string) [][]float32 {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = vec(model, dims, t)
	}
	return out
}

// usageFor is what the fake reports for a batch: odd numbers, so that
// apportioning has remainders to place.
func usageFor(inputs []string) llm.Usage {
	n := 0
	for _, in := range inputs {
		n += len(in)
	}
	return llm.Usage{PromptTokens: 3*n + 1, CompletionTokens: len(inputs), TotalTokens: 3*n + 1 + len(inputs)}
}

// fakeEmbedder embeds deterministically and records its calls. A batch with
// an input "fail" fails. With gate set, a call waits for the gate or its
// context.
type fakeEmbedder struct {
	mu    sync.Mutex
	calls []llm.EmbedRequest
	total llm.Usage

	gate       chan struct{}
	entered    atomic.Int32
	cancelled  atomic.Int32
	wrongCount bool
	panics     bool
}

func (f *fakeEmbedder) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	f.mu.Lock()
	r := *req
	r.Input = slices.Clone(req.Input)
	f.calls = append(f.calls, r)
	f.mu.Unlock()
	f.entered.Add(1)
	if f.panics {
		panic("boom")
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			f.cancelled.Add(1)
			return nil, ctx.Err()
		}
	}
	if slices.Contains(req.Input, "fail") {
		return nil, errFake
	}
	resp := &llm.EmbedResponse{Vectors: vecs(req.Model, req.Dimensions, req.Input), Model: req.Model + "-served", Usage: usageFor(req.Input)}
	if f.wrongCount {
		resp.Vectors = resp.Vectors[1:]
	}
	f.mu.Lock()
	f.total.PromptTokens += resp.Usage.PromptTokens
	f.total.CompletionTokens += resp.Usage.CompletionTokens
	f.total.TotalTokens += resp.Usage.TotalTokens
	f.mu.Unlock()
	return resp, nil
}

func (f *fakeEmbedder) Calls() []llm.EmbedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeEmbedder) Total() llm.Usage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

func (f *fakeEmbedder) Generate(context.Context, *llm.Request) (*llm.Response, error) {
	return &llm.Response{Model: "generated"}, nil
}

func (f *fakeEmbedder) GenerateStream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, llm.ErrUnavailable
}

func (f *fakeEmbedder) Models(context.Context) ([]llm.Model, error) {
	return []llm.Model{{ID: "m"}}, nil
}

// sizes records Batched calls.
type sizes struct {
	mu      sync.Mutex
	inputs  []int
	callers []int
}

func (s *sizes) Batched(inputs, callers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inputs = append(s.inputs, inputs)
	s.callers = append(s.callers, callers)
}

func (s *sizes) Get() (inputs, callers []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.inputs), slices.Clone(s.callers)
}

// pendingInputs is the number of inputs waiting in the batch of model.
func (b *Batcher) pendingInputs(model string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, bt := range b.pending {
		if k.model == model {
			return len(bt.inputs)
		}
	}
	return 0
}
