package resilience

import (
	"context"
	"io"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/ragway/ragway/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// step scripts one call of fakeBackend.
type step struct {
	err      error    // returned by the call itself
	firstErr error    // stream: returned by the first Recv
	chunks   []string // stream: chunks before the end
	tailErr  error    // stream: returned after the chunks instead of io.EOF
	block    chan struct{}
}

var defaultStep = step{chunks: []string{"a", "b"}}

// fakeBackend plays its steps in order, then succeeds forever.
type fakeBackend struct {
	mu      sync.Mutex
	steps   []step
	calls   int
	closed  int
	resp    *llm.Response
	embResp *llm.EmbedResponse
}

func (f *fakeBackend) next() step {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.steps) == 0 {
		return defaultStep
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	return s
}

func (f *fakeBackend) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeBackend) Closed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func (f *fakeBackend) Generate(ctx context.Context, _ *llm.Request) (*llm.Response, error) {
	s := f.next()
	if s.err != nil {
		return nil, s.err
	}
	if f.resp != nil {
		return f.resp, nil
	}
	return &llm.Response{Body: []byte("ok")}, nil
}

func (f *fakeBackend) GenerateStream(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
	s := f.next()
	if s.err != nil {
		return nil, s.err
	}
	return &fakeStream{f: f, s: s}, nil
}

func (f *fakeBackend) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	s := f.next()
	if s.err != nil {
		return nil, s.err
	}
	if f.embResp != nil {
		return f.embResp, nil
	}
	return &llm.EmbedResponse{Vectors: make([][]float32, len(req.Input))}, nil
}

func (f *fakeBackend) Models(context.Context) ([]llm.Model, error) {
	f.next()
	return []llm.Model{{ID: "m"}}, nil
}

type fakeStream struct {
	f      *fakeBackend
	s      step
	n      int
	closed bool
}

func (s *fakeStream) Recv() (llm.Chunk, error) {
	if s.n == 0 && s.s.block != nil {
		<-s.s.block
	}
	if s.n == 0 && s.s.firstErr != nil {
		s.n++
		return llm.Chunk{}, s.s.firstErr
	}
	if s.n < len(s.s.chunks) {
		s.n++
		return llm.Chunk{Data: []byte(s.s.chunks[s.n-1])}, nil
	}
	if s.s.tailErr != nil {
		return llm.Chunk{}, s.s.tailErr
	}
	return llm.Chunk{}, io.EOF
}

func (s *fakeStream) Close() error {
	if !s.closed {
		s.closed = true
		s.f.mu.Lock()
		s.f.closed++
		s.f.mu.Unlock()
	}
	return nil
}

// recorder is an Observer that keeps what it saw.
type recorder struct {
	mu       sync.Mutex
	attempts []int
	changes  []string
	onRetry  func()
}

func (r *recorder) Retried(_ string, attempt int, _ error) {
	r.mu.Lock()
	r.attempts = append(r.attempts, attempt)
	f := r.onRetry
	r.mu.Unlock()
	if f != nil {
		f()
	}
}

func (r *recorder) BreakerChanged(_ string, from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, from+"->"+to)
}

func (r *recorder) Attempts() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.attempts...)
}

func (r *recorder) Changes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.changes...)
}

// readAll drains s and returns the chunk payloads and the final error.
func readAll(s llm.Stream) ([]string, error) {
	var out []string
	for {
		c, err := s.Recv()
		if err != nil {
			return out, err
		}
		out = append(out, string(c.Data))
	}
}
