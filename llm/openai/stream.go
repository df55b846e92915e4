package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/sse"
	"github.com/ragway/ragway/llm/upstream"
)

// GenerateStream runs a streaming chat completion or completion. It always
// asks the upstream for usage (stream_options.include_usage).
func (b *Backend) GenerateStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	op := "openai " + req.Endpoint.String() + " stream"
	body, err := marshalRequest(req, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	reqCtx, cancel, detach := upstream.StreamContext(ctx)
	resp, err := b.do(reqCtx, http.MethodPost, endpointPath(req.Endpoint), body, "text/event-stream")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := checkContentType(resp, "text/event-stream"); err != nil {
		_ = resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	s := &stream{ctx: ctx, cancel: cancel, detach: detach, body: resp.Body, r: sse.NewReader(resp.Body), idle: b.Idle, op: op}
	s.timer = time.AfterFunc(time.Hour, s.onIdle)
	s.timer.Stop()
	return s, nil
}

// stream reads OpenAI chunks from an SSE body. A timer cancels the request
// when no event arrives within the idle timeout.
type stream struct {
	// ctx is the caller's context, checked to tell cancellation from failure.
	ctx    context.Context
	cancel context.CancelFunc
	// detach stops the caller's context from cancelling the request.
	detach func() bool
	body   io.ReadCloser
	r      *sse.Reader
	timer  *time.Timer
	idle   time.Duration
	op     string

	idleFired atomic.Bool
	closeOnce sync.Once
	// err is the terminal result once the stream ended: io.EOF or an error.
	err error
}

var _ llm.Stream = (*stream)(nil)

func (s *stream) onIdle() {
	s.idleFired.Store(true)
	s.cancel()
}

// chunkSummary is the little each chunk is decoded for.
type chunkSummary struct {
	Choices []struct{}      `json:"choices"`
	Usage   *llm.Usage      `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

// Recv returns the next chunk, io.EOF after [DONE], or an error.
func (s *stream) Recv() (llm.Chunk, error) {
	if s.err != nil {
		return llm.Chunk{}, s.err
	}
	for {
		s.timer.Reset(s.idle)
		ev, err := s.r.Next()
		s.timer.Stop()
		if err != nil {
			return s.fail(s.readError(err))
		}
		if ev.Name == "error" {
			return s.fail(streamError(ev.Data))
		}
		if bytes.Equal(ev.Data, sse.Done) {
			return s.fail(io.EOF)
		}
		if len(ev.Data) == 0 {
			continue
		}
		var cs chunkSummary
		if err := json.Unmarshal(ev.Data, &cs); err != nil {
			return s.fail(fmt.Errorf("%s: decode chunk: %w: %w", s.op, llm.ErrBadUpstream, err))
		}
		if len(cs.Error) > 0 && string(cs.Error) != "null" {
			return s.fail(fmt.Errorf("%s: %w", s.op, streamError(ev.Data)))
		}
		return llm.Chunk{
			Data:      bytes.Clone(ev.Data),
			Usage:     cs.Usage,
			UsageOnly: cs.Usage != nil && len(cs.Choices) == 0,
		}, nil
	}
}

// readError classifies a failed read of the event stream.
func (s *stream) readError(err error) error {
	switch {
	case s.idleFired.Load():
		return fmt.Errorf("%s: no event for %s: %w", s.op, s.idle, llm.ErrTimeout)
	case s.ctx.Err() != nil:
		return fmt.Errorf("%s: %w", s.op, s.ctx.Err())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: stream ended before [DONE]: %w", s.op, llm.ErrBadUpstream)
	}
	return fmt.Errorf("%s: read stream: %w: %w", s.op, llm.ErrBadUpstream, err)
}

func (s *stream) fail(err error) (llm.Chunk, error) {
	s.err = err
	s.release()
	return llm.Chunk{}, err
}

func (s *stream) release() {
	s.closeOnce.Do(func() {
		s.timer.Stop()
		if s.detach() && s.err == io.EOF {
			// Ended cleanly: keep the connection for the next request.
			upstream.Drain(s.body, s.cancel)
			return
		}
		_ = s.body.Close()
		s.cancel()
	})
}

// Close releases the connection. It is safe to call more than once.
func (s *stream) Close() error {
	s.release()
	if s.err == nil {
		s.err = fmt.Errorf("%s: %w", s.op, errStreamClosed)
	}
	return nil
}

var errStreamClosed = errors.New("stream closed")
