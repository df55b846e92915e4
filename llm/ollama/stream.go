package ollama

import (
	"bufio"
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

	"github.com/ollama/ollama/api"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/upstream"
)

// stream reads Ollama's NDJSON and yields OpenAI chunks. It pulls lines on
// demand, so it needs no goroutine; a timer cancels the request when no line
// arrives within the idle timeout.
type stream struct {
	// ctx is the caller's context, checked to tell cancellation from failure.
	ctx    context.Context
	cancel context.CancelFunc
	// detach stops the caller's context from cancelling the request.
	detach func() bool
	body   io.ReadCloser
	br     *bufio.Reader
	timer  *time.Timer
	idle   time.Duration
	op     string
	// convert maps one line to chunks and reports whether it was the last.
	convert func(line []byte) ([]llm.Chunk, bool, error)

	pending   []llm.Chunk
	done      bool
	idleFired atomic.Bool
	closeOnce sync.Once
	err       error
}

var _ llm.Stream = (*stream)(nil)

func (b *Backend) openStream(ctx context.Context, op, path string, body any, convert func([]byte) ([]llm.Chunk, bool, error)) (*stream, error) {
	reqCtx, cancel, detach := upstream.StreamContext(ctx)
	resp, err := b.do(reqCtx, http.MethodPost, path, body)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	s := &stream{
		ctx: ctx, cancel: cancel, detach: detach, body: resp.Body, br: bufio.NewReaderSize(resp.Body, 4<<10),
		idle: b.Idle, op: op, convert: convert,
	}
	s.timer = time.AfterFunc(time.Hour, s.onIdle)
	s.timer.Stop()
	return s, nil
}

func (s *stream) onIdle() {
	s.idleFired.Store(true)
	s.cancel()
}

// Recv returns the next chunk, io.EOF after the usage chunk, or an error.
func (s *stream) Recv() (llm.Chunk, error) {
	for {
		if len(s.pending) > 0 {
			c := s.pending[0]
			s.pending = s.pending[1:]
			return c, nil
		}
		if s.err != nil {
			return llm.Chunk{}, s.err
		}
		if s.done {
			s.fail(io.EOF)
			continue
		}
		s.timer.Reset(s.idle)
		line, err := s.readLine()
		s.timer.Stop()
		if err != nil {
			s.fail(s.readError(err))
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		chunks, last, err := s.convert(line)
		if err != nil {
			s.fail(fmt.Errorf("%s: %w", s.op, err))
			continue
		}
		s.pending, s.done = chunks, last
	}
}

// readLine returns one line without its newline, bounded by MaxResponseSize.
func (s *stream) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > MaxResponseSize {
				return nil, fmt.Errorf("line over %d bytes: %w", MaxResponseSize, llm.ErrBadUpstream)
			}
			line, err = s.br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) > 0 {
			// A last line without its newline is still a line.
			return line, nil
		}
		return nil, err
	}
	return line[:len(line)-1], nil
}

func (s *stream) readError(err error) error {
	switch {
	case s.idleFired.Load():
		return fmt.Errorf("%s: no line for %s: %w", s.op, s.idle, llm.ErrTimeout)
	case s.ctx.Err() != nil:
		return fmt.Errorf("%s: %w", s.op, s.ctx.Err())
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%s: stream ended before done: %w", s.op, llm.ErrBadUpstream)
	case errors.Is(err, llm.ErrBadUpstream):
		return fmt.Errorf("%s: %w", s.op, err)
	}
	return fmt.Errorf("%s: read stream: %w: %w", s.op, llm.ErrBadUpstream, err)
}

func (s *stream) fail(err error) {
	s.err = err
	s.release()
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
	return nil
}

// lineError maps the error field every Ollama line may carry: an
// {"error":"..."} line becomes an *llm.UpstreamError.
func lineError(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var msg string
	if json.Unmarshal(raw, &msg) != nil || msg == "" {
		msg = "upstream error mid-stream"
	}
	return &llm.UpstreamError{Status: http.StatusBadGateway, Message: upstream.Clip(msg)}
}

func chatConverter(c *converter) func([]byte) ([]llm.Chunk, bool, error) {
	return func(line []byte) ([]llm.Chunk, bool, error) {
		var r struct {
			api.ChatResponse
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, false, fmt.Errorf("decode line: %w: %w", llm.ErrBadUpstream, err)
		}
		if err := lineError(r.Error); err != nil {
			return nil, false, err
		}
		chunks, err := c.chatChunks(&r.ChatResponse)
		return chunks, r.Done, err
	}
}

func textConverter(c *converter) func([]byte) ([]llm.Chunk, bool, error) {
	return func(line []byte) ([]llm.Chunk, bool, error) {
		var r struct {
			api.GenerateResponse
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, false, fmt.Errorf("decode line: %w: %w", llm.ErrBadUpstream, err)
		}
		if err := lineError(r.Error); err != nil {
			return nil, false, err
		}
		chunks, err := c.textChunks(&r.GenerateResponse)
		return chunks, r.Done, err
	}
}
