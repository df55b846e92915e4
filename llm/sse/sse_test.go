package sse_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/sse"
)

type event struct {
	Name string
	Data string
}

// readAll returns the events of input and the error that ended them.
func readAll(r io.Reader) ([]event, error) {
	rd := sse.NewReader(r)
	var out []event
	for {
		ev, err := rd.Next()
		if err != nil {
			return out, err
		}
		out = append(out, event{Name: ev.Name, Data: string(ev.Data)})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []event
		err   error
	}{
		{"empty", "", nil, io.EOF},
		{"one event", "data: {\"a\":1}\n\n", []event{{Data: `{"a":1}`}}, io.EOF},
		{"done", "data: x\n\ndata: [DONE]\n\n", []event{{Data: "x"}, {Data: "[DONE]"}}, io.EOF},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []event{{Data: "a"}, {Data: "b"}}, io.EOF},
		{"no space after colon", "data:a\n\n", []event{{Data: "a"}}, io.EOF},
		{"only first space stripped", "data:  a\n\n", []event{{Data: " a"}}, io.EOF},
		{"comments", ": keep-alive\n\n: ping\ndata: a\n\n", []event{{Data: "a"}}, io.EOF},
		{"multi-line data", "data: a\ndata: b\ndata:\n\n", []event{{Data: "a\nb\n"}}, io.EOF},
		{"event name", "event: error\ndata: {}\n\n", []event{{Name: "error", Data: "{}"}}, io.EOF},
		{"name resets", "event: x\ndata: 1\n\ndata: 2\n\n", []event{{Name: "x", Data: "1"}, {Data: "2"}}, io.EOF},
		{"ignored fields", "id: 7\nretry: 10\nfoo: bar\ndata: a\n\n", []event{{Data: "a"}}, io.EOF},
		{"field without colon", "data\n\n", []event{{Data: ""}}, io.EOF},
		{"extra blank lines", "\n\n\ndata: a\n\n\n\n", []event{{Data: "a"}}, io.EOF},
		{"missing final blank line", "data: a\n\ndata: b\n", []event{{Data: "a"}}, io.ErrUnexpectedEOF},
		{"missing final newline", "data: a\n\ndata: b", []event{{Data: "a"}}, io.ErrUnexpectedEOF},
		{"cut after name", "event: x\n", nil, io.ErrUnexpectedEOF},
		{"trailing comment only", "data: a\n\n: bye", []event{{Data: "a"}}, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(strings.NewReader(tt.input))
			require.ErrorIs(t, err, tt.err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestReaderTooLarge(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"one huge line", "data: " + strings.Repeat("x", sse.MaxEventSize+1) + "\n\n"},
		{"many lines", strings.Repeat("data: "+strings.Repeat("y", 1<<20)+"\n", 9) + "\n"},
		{"huge comment", ":" + strings.Repeat("z", sse.MaxEventSize+64<<10) + "\n\ndata: a\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(strings.NewReader(tt.input))
			require.ErrorIs(t, err, sse.ErrEventTooLarge)
		})
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), &errReader{boom})
	got, err := readAll(r)
	require.ErrorIs(t, err, boom)
	require.Equal(t, []event{{Data: "a"}}, got)
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, sse.WriteData(&buf, []byte(`{"a":1}`)))
	require.NoError(t, sse.WriteEvent(&buf, "error", []byte(`{"error":{}}`)))
	require.NoError(t, sse.WriteData(&buf, sse.Done))
	require.Equal(t, "data: {\"a\":1}\n\nevent: error\ndata: {\"error\":{}}\n\ndata: [DONE]\n\n", buf.String())

	got, err := readAll(&buf)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, []event{{Data: `{"a":1}`}, {Name: "error", Data: `{"error":{}}`}, {Data: "[DONE]"}}, got)

	require.Error(t, sse.WriteData(io.Discard, []byte("a\nb")))
	require.Error(t, sse.WriteData(io.Discard, []byte("a\rb")))
	require.Error(t, sse.WriteEvent(io.Discard, "a\nb", []byte("x")))
	require.Error(t, sse.WriteEvent(io.Discard, "a", []byte("x\r")))
}

func FuzzReader(f *testing.F) {
	seeds := []string{
		"data: {\"a\":1}\n\ndata: [DONE]\n\n",
		"event: error\r\ndata: x\r\n\r\n",
		": c\n\ndata:\ndata: y\n\n",
		"data: a\r\rdata: b\n",
		"\r\n\r\n\n",
		"data",
		"id: 1\nretry: x\n\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		rd := sse.NewReader(bytes.NewReader(input))
		total := 0
		for i := 0; ; i++ {
			ev, err := rd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, sse.ErrEventTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			require.LessOrEqual(t, len(ev.Data), sse.MaxEventSize)
			total += len(ev.Data)
			require.LessOrEqual(t, i, len(input), "more events than input bytes")
		}
		require.LessOrEqual(t, total, len(input), "event data cannot exceed the input")

		// Any single line without newlines round-trips through WriteData.
		line := bytes.Map(func(r rune) rune {
			if r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, input)
		var buf bytes.Buffer
		require.NoError(t, sse.WriteData(&buf, line))
		got, err := readAll(&buf)
		require.ErrorIs(t, err, io.EOF)
		require.Equal(t, []event{{Data: string(line)}}, got)
	})
}

// TestReaderLongLines: lines far longer than the reader's buffer, with LF
// and CRLF endings and split across many small reads, come out whole.
func TestReaderLongLines(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	stream := "data: " + long + "\r\n\r\n" + "data: a\ndata: " + long + "\n\n" + "data: [DONE]\n\n"
	r := sse.NewReader(iotest.OneByteReader(strings.NewReader(stream)))
	ev, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, long, string(ev.Data))
	ev, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, "a\n"+long, string(ev.Data))
	ev, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, sse.Done, ev.Data)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
}
