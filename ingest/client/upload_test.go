package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// received is what an upload server saw in one request.
type received struct {
	purpose, filename string
	bytes             int64
	head              string
}

// uploadServer answers uploads with replies in order (then the last one
// again), recording each multipart form it could read. A reply with
// status 413 is sent without reading the body.
type uploadServer struct {
	mu      sync.Mutex
	replies []reply
	got     []received
	n       int
}

func (s *uploadServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rp := s.replies[min(s.n, len(s.replies)-1)]
	s.n++
	s.mu.Unlock()
	if rp.status == http.StatusRequestEntityTooLarge {
		w.WriteHeader(rp.status)
		_, _ = io.WriteString(w, rp.body)
		return
	}
	rec := received{bytes: -1}
	if mr, err := r.MultipartReader(); err == nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			switch p.FormName() {
			case "purpose":
				b, _ := io.ReadAll(p)
				rec.purpose = string(b)
			case "file":
				rec.filename = p.FileName()
				var head strings.Builder
				n, _ := io.Copy(&head, io.LimitReader(p, 64))
				rest, _ := io.Copy(io.Discard, p)
				rec.bytes, rec.head = n+rest, head.String()
			}
		}
	}
	s.mu.Lock()
	s.got = append(s.got, rec)
	s.mu.Unlock()
	w.WriteHeader(rp.status)
	_, _ = io.WriteString(w, rp.body)
}

// source is upload content that counts opens and closes.
type source struct {
	opened, closed atomic.Int64
	open           func() io.Reader
}

func (s *source) opener() Opener {
	return func() (io.ReadCloser, error) {
		s.opened.Add(1)
		return closeCounter{Reader: s.open(), closed: &s.closed}, nil
	}
}

type closeCounter struct {
	io.Reader
	closed *atomic.Int64
}

func (c closeCounter) Close() error {
	c.closed.Add(1)
	return nil
}

// failingReader returns n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

// endless never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

const fileJSON = `{"id":"file-1","object":"file","bytes":11,"filename":"a.txt","purpose":"assistants","status":"processed"}`

func TestUploadFile(t *testing.T) {
	errDisk := errors.New("disk on fire")
	big := int64(20 << 20)
	tests := []struct {
		name     string
		replies  []reply
		content  func() io.Reader
		requests int
		opens    int64
		check    func(t *testing.T, f *File, err error, got []received)
	}{
		{
			name:     "one attempt",
			replies:  []reply{{status: 200, body: fileJSON}},
			content:  func() io.Reader { return strings.NewReader("hello world") },
			requests: 1, opens: 1,
			check: func(t *testing.T, f *File, err error, got []received) {
				require.NoError(t, err)
				require.Equal(t, "file-1", f.ID)
				require.Equal(t, []received{{purpose: "assistants", filename: "a \"b\".txt", bytes: 11, head: "hello world"}}, got)
			},
		},
		{
			name:     "503 then 200 sends the content again",
			replies:  []reply{{status: 503}, {status: 200, body: fileJSON}},
			content:  func() io.Reader { return strings.NewReader("hello world") },
			requests: 2, opens: 2,
			check: func(t *testing.T, f *File, err error, got []received) {
				require.NoError(t, err)
				require.Len(t, got, 2)
				require.Equal(t, got[0], got[1])
				require.Equal(t, int64(11), got[1].bytes)
			},
		},
		{
			name:     "large content is streamed",
			replies:  []reply{{status: 200, body: fileJSON}},
			content:  func() io.Reader { return io.LimitReader(endless{}, big) },
			requests: 1, opens: 1,
			check: func(t *testing.T, _ *File, err error, got []received) {
				require.NoError(t, err)
				require.Len(t, got, 1)
				require.Equal(t, big, got[0].bytes)
			},
		},
		{
			name:     "read error is not retried",
			replies:  []reply{{status: 200, body: fileJSON}},
			content:  func() io.Reader { return &failingReader{n: 100 << 10, err: errDisk} },
			requests: -1, opens: 1,
			check: func(t *testing.T, _ *File, err error, _ []received) {
				require.ErrorIs(t, err, errDisk)
				require.ErrorContains(t, err, "upload file: read content: disk on fire")
			},
		},
		{
			name:     "early rejection stops the writer",
			replies:  []reply{{status: 413, body: `{"error":{"message":"too big","type":"invalid_request_error","code":"request_too_large"}}`}},
			content:  func() io.Reader { return endless{} },
			requests: -1, opens: -1,
			check: func(t *testing.T, _ *File, err error, _ []received) {
				require.Error(t, err)
				var ae *APIError
				if errors.As(err, &ae) {
					require.Equal(t, 413, ae.Status)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s := &uploadServer{replies: tt.replies}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c, _ := testClient(t, srv.URL)
			src := &source{open: tt.content}
			f, err := c.UploadFile(context.Background(), `a "b".txt`, src.opener())
			s.mu.Lock()
			got, n := s.got, s.n
			s.mu.Unlock()
			tt.check(t, f, err, got)
			if tt.requests >= 0 {
				require.Equal(t, tt.requests, n)
			}
			if tt.opens >= 0 {
				require.Equal(t, tt.opens, src.opened.Load())
			}
			require.Positive(t, src.opened.Load())
			require.Equal(t, src.opened.Load(), src.closed.Load(), "every opened source is closed before UploadFile returns")
		})
	}
}

func TestUploadOpenerError(t *testing.T) {
	s := &uploadServer{replies: []reply{{status: 200, body: fileJSON}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, _ := testClient(t, srv.URL)
	errGone := errors.New("gone")
	calls := 0
	_, err := c.UploadFile(context.Background(), "a.txt", func() (io.ReadCloser, error) {
		calls++
		return nil, errGone
	})
	require.ErrorIs(t, err, errGone)
	require.Equal(t, 1, calls)
	require.Zero(t, s.n)

	_, err = c.UploadFile(context.Background(), "a.txt", func() (io.ReadCloser, error) { return nil, nil })
	require.ErrorContains(t, err, "no reader")
	_, err = c.UploadFile(context.Background(), "", func() (io.ReadCloser, error) { return nil, nil })
	require.Error(t, err)
	_, err = c.UploadFile(context.Background(), "a.txt", nil)
	require.Error(t, err)
	require.Zero(t, s.n)
}
