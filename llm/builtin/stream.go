package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/ragway/ragway/llm"
)

// event is one chunk to send: its JSON payload and, for the last one, usage.
type event struct {
	payload any
	usage   *llm.Usage
}

// stream replays precomputed events. Cancelling the request's context makes
// the next Recv fail with the context's error.
type stream struct {
	mu     sync.Mutex
	events []event
	err    error // set once: cancellation, or io.EOF after Close
	stop   func() bool
}

var _ llm.Stream = (*stream)(nil)

func newStream(ctx context.Context, events []event) *stream {
	s := &stream{events: events}
	s.stop = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err == nil {
			s.err = fmt.Errorf("builtin stream: %w", context.Cause(ctx))
		}
	})
	return s
}

// Recv implements llm.Stream.
func (s *stream) Recv() (llm.Chunk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return llm.Chunk{}, s.err
	}
	if len(s.events) == 0 {
		return llm.Chunk{}, io.EOF
	}
	ev := s.events[0]
	s.events[0] = event{}
	s.events = s.events[1:]
	data, err := json.Marshal(ev.payload)
	if err != nil {
		return llm.Chunk{}, fmt.Errorf("builtin stream: encode chunk: %w", err)
	}
	return llm.Chunk{Data: data, Usage: ev.usage, UsageOnly: ev.usage != nil}, nil
}

// Close implements llm.Stream. Recv returns io.EOF after it.
func (s *stream) Close() error {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = io.EOF
	}
	s.events = nil
	return nil
}
