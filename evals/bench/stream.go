package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Frames counts the SSE frames of streamed responses.
type Frames struct {
	Streams int `json:"streams"`
	// Events is the number of SSE events that carried data.
	Events int `json:"events"`
	// Payloads is the number of frames found in those events: one per data
	// line and per JSON value, so a merged event counts every frame in it.
	Payloads int `json:"payloads"`
	// Merged counts events that carried more than one frame.
	Merged int `json:"merged"`
	// Corrupt counts data that is neither JSON nor [DONE].
	Corrupt int `json:"corrupt"`
	// ErrorEvents counts error events and error payloads.
	ErrorEvents int `json:"error_events"`
	// Unterminated counts streams that ended without [DONE].
	Unterminated int `json:"unterminated"`
}

func (f *Frames) add(g Frames) {
	f.Streams += g.Streams
	f.Events += g.Events
	f.Payloads += g.Payloads
	f.Merged += g.Merged
	f.Corrupt += g.Corrupt
	f.ErrorEvents += g.ErrorEvents
	f.Unterminated += g.Unterminated
}

// maxValuesPerLine bounds the JSON values counted in one data line.
const maxValuesPerLine = 1024

// frameScanner counts the frames of one SSE stream, line by line.
type frameScanner struct {
	f         Frames
	data      int // frames in the current event
	isError   bool
	done      bool
	firstData bool
}

// line takes one line without its line ending.
func (s *frameScanner) line(l []byte) {
	switch {
	case len(l) == 0:
		s.endEvent()
	case l[0] == ':':
		// comment
	case bytes.HasPrefix(l, []byte("data:")):
		p := bytes.TrimPrefix(l[len("data:"):], []byte(" "))
		s.firstData = true
		s.payload(p)
	case bytes.HasPrefix(l, []byte("event:")):
		if string(bytes.TrimSpace(l[len("event:"):])) == "error" {
			s.isError = true
		}
	}
}

func (s *frameScanner) payload(p []byte) {
	if string(p) == "[DONE]" {
		s.data++
		s.done = true
		return
	}
	if bytes.HasPrefix(p, []byte(`{"error"`)) {
		s.isError = true
	}
	n := countJSON(p)
	if n == 0 {
		s.f.Corrupt++
		n = 1
	}
	s.data += n
}

func (s *frameScanner) endEvent() {
	if s.data > 0 {
		s.f.Events++
		s.f.Payloads += s.data
		if s.data > 1 {
			s.f.Merged++
		}
	}
	if s.isError {
		s.f.ErrorEvents++
	}
	s.data, s.isError = 0, false
}

// finish ends the stream and returns its counts.
func (s *frameScanner) finish() Frames {
	s.endEvent()
	s.f.Streams++
	if !s.done {
		s.f.Unterminated++
	}
	return s.f
}

// countJSON returns how many JSON values p holds back to back (0 when it is
// not JSON at all), up to maxValuesPerLine.
func countJSON(p []byte) int {
	if json.Valid(p) {
		return 1
	}
	d := json.NewDecoder(bytes.NewReader(p))
	n := 0
	for n < maxValuesPerLine {
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				return n
			}
			return 0
		}
		n++
	}
	return n
}

// ScanFrames counts the frames of one SSE stream read from r.
func ScanFrames(r io.Reader) (Frames, error) {
	br := bufio.NewReaderSize(r, 16<<10)
	var s frameScanner
	_, err := scanStream(br, &s, nil)
	return s.finish(), err
}

// maxLine bounds one SSE line.
const maxLine = 1 << 20

// scanStream feeds the lines of br to s. When first is not nil it is
// called once, as the first data line arrives; scanStream reports whether
// that happened.
func scanStream(br *bufio.Reader, s *frameScanner, first func()) (bool, error) {
	var long []byte
	called := false
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(chunk) > maxLine {
				return called, fmt.Errorf("sse line over %d bytes", maxLine)
			}
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if len(long) > 0 {
			if len(long)+len(chunk) > maxLine {
				return called, fmt.Errorf("sse line over %d bytes", maxLine)
			}
			long = append(long, chunk...)
			line = long
		}
		if len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			if err == nil || len(line) > 0 {
				s.line(line)
			}
			if !called && s.firstData && first != nil {
				first()
				called = true
			}
		}
		long = long[:0]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return called, nil
			}
			return called, fmt.Errorf("read stream: %w", err)
		}
	}
}

// streamRun collects sequential streams to one path.
type streamRun struct {
	ttft   []time.Duration
	frames Frames
	// perStream is the frame count of each stream.
	perStream []int
	br        *bufio.Reader
}

func newStreamRun(n int) *streamRun {
	return &streamRun{ttft: make([]time.Duration, 0, n), perStream: make([]int, 0, n),
		br: bufio.NewReaderSize(nil, 16<<10)}
}

// sequential opens n streams one after the other and records the time to
// the first data frame of each and its frames. Any failure fails the run:
// a stream is not allowed to break.
func (run *streamRun) sequential(ctx context.Context, e *endpoint, n int, done *atomic.Int64) error {
	for range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := run.one(e); err != nil {
			return fmt.Errorf("stream %d: %w", len(run.ttft), err)
		}
		done.Add(1)
	}
	return nil
}

func (run *streamRun) one(e *endpoint) error {
	start := time.Now()
	resp, err := e.send()
	if err != nil {
		return err
	}
	var ttft time.Duration
	var s frameScanner
	run.br.Reset(resp.Body)
	got, err := scanStream(run.br, &s, func() { ttft = time.Since(start) })
	_ = resp.Body.Close()
	run.br.Reset(nil)
	if err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	f := s.finish()
	if !got {
		return fmt.Errorf("%s: no data frame", e.name)
	}
	if len(run.ttft) < cap(run.ttft) {
		run.ttft = append(run.ttft, ttft)
		run.perStream = append(run.perStream, f.Payloads)
		run.frames.add(f)
	}
	return nil
}
