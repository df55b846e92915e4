package resilience

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/ragway/ragway/llm"
)

// stream replays the chunk read by GenerateStream, then delegates. It
// reports the breaker outcome once: when the stream ends (io.EOF is a
// success, another error counts as outcome decides) or when it is closed.
type stream struct {
	// ctx is the request's context, kept only to tell a client that went
	// away from an upstream that failed when a later Recv errors.
	ctx      context.Context
	inner    llm.Stream
	done     func(error)
	reported atomic.Bool

	first    llm.Chunk
	firstErr error
	peeked   bool
}

func newStream(ctx context.Context, s llm.Stream, done func(error), first llm.Chunk, firstErr error) *stream {
	st := &stream{ctx: ctx, inner: s, done: done, first: first, firstErr: firstErr, peeked: true}
	if firstErr != nil {
		st.finish(nil)
	}
	return st
}

// Recv implements llm.Stream.
func (s *stream) Recv() (llm.Chunk, error) {
	if s.peeked {
		s.peeked = false
		c, err := s.first, s.firstErr
		s.first = llm.Chunk{}
		return c, err
	}
	c, err := s.inner.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.finish(nil)
		} else {
			s.finish(outcome(s.ctx, err))
		}
	}
	return c, err
}

// Close implements llm.Stream. A stream closed before its end produced
// output, so it counts as a success unless the client went away.
func (s *stream) Close() error {
	if s.ctx.Err() != nil {
		s.finish(errExcluded)
	} else {
		s.finish(nil)
	}
	return s.inner.Close()
}

func (s *stream) finish(result error) {
	if s.reported.CompareAndSwap(false, true) {
		s.done(result)
	}
}
