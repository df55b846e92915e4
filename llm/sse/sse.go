// Package sse reads and writes Server-Sent Events as OpenAI-compatible servers
// use them: "data:" frames separated by blank lines, ending with "data: [DONE]".
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxEventSize bounds one event's data. A larger event is an error rather than
// an unbounded allocation.
const MaxEventSize = 8 << 20

// ErrEventTooLarge is returned for an event over MaxEventSize.
var ErrEventTooLarge = errors.New("sse: event too large")

// Done is the data of OpenAI's terminating event.
var Done = []byte("[DONE]")

var (
	dataPrefix = []byte("data: ")
	frameEnd   = []byte("\n\n")
)

// Event is one dispatched event.
type Event struct {
	// Name is the "event:" field; empty means "message".
	Name string
	// Data is the "data:" lines joined with "\n".
	Data []byte
}

// Reader parses events from a stream.
type Reader struct {
	br      *bufio.Reader
	data    []byte
	name    string
	has     bool
	hasData bool
}

// readBuffer is the Reader's buffer. A chunk is a few hundred bytes; a
// longer line is assembled from several reads (up to MaxEventSize), so a
// large buffer only cost every stream 32 KiB.
const readBuffer = 4 << 10

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readBuffer)}
}

// Next returns the next event. It returns io.EOF when the stream ends cleanly
// between events and io.ErrUnexpectedEOF when it ends inside one. The
// returned Data is valid until the next call.
func (r *Reader) Next() (Event, error) {
	r.data = r.data[:0]
	r.name = ""
	r.has = false
	r.hasData = false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if r.has {
					// A final event without its blank line: the stream was cut.
					return Event{}, io.ErrUnexpectedEOF
				}
				return Event{}, io.EOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !r.has {
				continue
			}
			return Event{Name: r.name, Data: r.data}, nil
		}
		if line[0] == ':' {
			continue // comment, used as keep-alive
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			if len(r.data)+len(value) > MaxEventSize {
				return Event{}, ErrEventTooLarge
			}
			r.data = append(r.data, value...)
			r.has = true
			r.hasData = true
		case "event":
			r.name = string(value)
			r.has = true
		}
		// "id", "retry" and unknown fields are ignored.
	}
}

// readLine returns one line without its terminator (LF, CRLF or CR+LF).
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > MaxEventSize {
				return nil, ErrEventTooLarge
			}
			line, err = r.br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		if len(line) > 0 && errors.Is(err, io.EOF) {
			// Last line without a newline: treat it as a line, and report the
			// cut on the next read.
			return bytes.TrimRight(line, "\r"), nil
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// WriteData writes one data frame in three writes, so w should buffer (an
// http.ResponseWriter does, until Flush). data must not contain newlines
// (JSON from encoding/json never does).
func WriteData(w io.Writer, data []byte) error {
	if bytes.ContainsAny(data, "\r\n") {
		return fmt.Errorf("sse: data contains a newline")
	}
	// Three writes rather than a joined copy: the writers this goes to (an
	// http.ResponseWriter) buffer until the frame is flushed.
	if _, err := w.Write(dataPrefix); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	_, err := w.Write(frameEnd)
	return err
}

// WriteEvent writes a named event with one data line.
func WriteEvent(w io.Writer, name string, data []byte) error {
	if bytes.ContainsAny(data, "\r\n") || bytes.ContainsAny([]byte(name), "\r\n") {
		return fmt.Errorf("sse: event contains a newline")
	}
	_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
	return err
}
