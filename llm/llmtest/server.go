// Package llmtest is a fake upstream that speaks the OpenAI and Ollama wire
// protocols, for tests and benchmarks of everything that talks to an LLM
// server, and a conformance suite (Run) for llm.Backend implementations.
//
// Replies are deterministic: the assistant answers "echo: " followed by the
// text of the last user (or tool) message, streamed one word per chunk.
// Behaviour can be changed while serving, for the whole server (SetLatency,
// Inject, ...) or for one request with X-Fake-* headers.
package llmtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Request headers that change the behaviour of one request.
const (
	// HeaderLatency delays the response headers (a Go duration: "250ms").
	HeaderLatency = "X-Fake-Latency"
	// HeaderChunkDelay waits between streamed chunks (a Go duration).
	HeaderChunkDelay = "X-Fake-Chunk-Delay"
	// HeaderChunks sets the number of content chunks of the reply.
	HeaderChunks = "X-Fake-Chunks"
	// HeaderFault injects a fault: status, stream-error, close, reset,
	// garbage or stall.
	HeaderFault = "X-Fake-Fault"
	// HeaderStatus is the status of a "status" fault.
	HeaderStatus = "X-Fake-Status"
	// HeaderRetryAfter is the Retry-After of a "status" fault.
	HeaderRetryAfter = "X-Fake-Retry-After"
	// HeaderAfter is the number of chunks sent before a stream fault.
	HeaderAfter = "X-Fake-After"
)

// Server is a fake OpenAI and Ollama server.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	mux  *http.ServeMux
	wg   sync.WaitGroup
	once sync.Once

	models   []string
	embedDim int
	version  string

	latency    atomic.Int64
	chunkDelay atomic.Int64
	endDelay   atomic.Int64
	chunks     atomic.Int64

	faultMu sync.Mutex
	faults  []*Fault

	rec      recorder
	canceled atomic.Int64
	conns    atomic.Int64
	ids      atomic.Uint64

	openAIModels []byte
	ollamaTags   []byte
}

// Option configures a Server.
type Option func(*Server)

// WithModels sets the models listed by GET /v1/models and /api/tags.
// Requests for other models are served all the same.
func WithModels(ids ...string) Option {
	return func(s *Server) { s.models = append([]string(nil), ids...) }
}

// WithEmbeddingDim sets the default embedding dimension (16 by default).
func WithEmbeddingDim(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.embedDim = n
		}
	}
}

// WithRecordLimit sets how many request bodies are kept per path (32 by
// default, 0 keeps none).
func WithRecordLimit(n int) Option {
	return func(s *Server) { s.rec.limit = max(n, 0) }
}

// WithLatency delays every response's headers by d.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.SetLatency(d) } }

// WithChunkDelay waits d between streamed chunks.
func WithChunkDelay(d time.Duration) Option { return func(s *Server) { s.SetChunkDelay(d) } }

// WithEndDelay makes the handler wait d after a reply's last frame before
// it returns, so a stream's chunked terminator comes d after [DONE], as
// from servers that finish work after their last event.
func WithEndDelay(d time.Duration) Option { return func(s *Server) { s.endDelay.Store(int64(d)) } }

// WithChunks makes every reply n content chunks long.
func WithChunks(n int) Option { return func(s *Server) { s.SetChunks(n) } }

// New returns a Server that is not listening yet; use Serve, or use it as an
// http.Handler.
func New(opts ...Option) *Server {
	s := &Server{
		models:   []string{"fake-chat", "fake-embed"},
		embedDim: 16,
		version:  "0.17.4",
		rec:      recorder{limit: 32},
	}
	for _, o := range opts {
		o(s)
	}
	s.rec.init()
	s.openAIModels = s.buildOpenAIModels()
	s.ollamaTags = s.buildOllamaTags()
	s.mux = http.NewServeMux()
	s.routes()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.conns.Add(1)
			}
		}}
	return s
}

// NewServer starts a Server on a free port of 127.0.0.1. It panics if it
// cannot listen, like httptest.NewServer.
func NewServer(opts ...Option) *Server {
	s, err := Start("127.0.0.1:0", opts...)
	if err != nil {
		panic(fmt.Sprintf("llmtest: %v", err))
	}
	return s
}

// Start starts a Server listening on addr.
func Start(addr string, opts ...Option) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := New(opts...)
	s.setListener(ln)
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Serve serves on l until Close. It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	s.setListener(l)
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) setListener(l net.Listener) {
	s.ln = l
	s.url = "http://" + l.Addr().String()
}

// URL returns the server's root URL (the Ollama base URL).
func (s *Server) URL() string { return s.url }

// OpenAIURL returns the OpenAI base URL, the root followed by /v1.
func (s *Server) OpenAIURL() string { return s.url + "/v1" }

// Close stops the server, breaks every open connection and waits for the
// handlers to return. It is safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		_ = s.srv.Close()
		s.wg.Wait()
	})
}

// SetLatency delays the response headers of every later request by d.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// SetChunkDelay waits d between the streamed chunks of every later request.
func (s *Server) SetChunkDelay(d time.Duration) { s.chunkDelay.Store(int64(d)) }

// SetChunks makes every later reply n content chunks long (0: one per word).
func (s *Server) SetChunks(n int) { s.chunks.Store(int64(max(n, 0))) }

// ServeHTTP serves the OpenAI and Ollama endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	s.mux.HandleFunc("POST /v1/chat/completions", s.handle(s.openAIChat))
	s.mux.HandleFunc("POST /v1/completions", s.handle(s.openAICompletions))
	s.mux.HandleFunc("POST /v1/embeddings", s.handle(s.openAIEmbeddings))
	s.mux.HandleFunc("GET /v1/models", s.handle(s.openAIListModels))
	s.mux.HandleFunc("GET /v1/models/{id...}", s.handle(s.openAIGetModel))
	s.mux.HandleFunc("POST /api/chat", s.handle(s.ollamaChat))
	s.mux.HandleFunc("POST /api/generate", s.handle(s.ollamaGenerate))
	s.mux.HandleFunc("POST /api/embed", s.handle(s.ollamaEmbed))
	s.mux.HandleFunc("GET /api/tags", s.handle(s.ollamaTagsHandler))
	s.mux.HandleFunc("GET /api/version", s.handle(s.ollamaVersion))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeOllamaError(w, http.StatusNotFound, "404 page not found")
			return
		}
		writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "", "unknown_url",
			"Unknown request URL: "+r.Method+" "+r.URL.Path)
	})
}

// exchange is one request being served.
type exchange struct {
	s          *Server
	w          http.ResponseWriter
	r          *http.Request
	ctx        context.Context
	body       []byte
	fault      *Fault
	chunkDelay time.Duration
	chunks     int
	// gone is set when a write failed: the client went away.
	gone bool
	done bool
}

type handlerFunc func(x *exchange)

// handle reads and records the body, then runs h with the server's knobs and
// the request's overrides resolved.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x := &exchange{s: s, w: w, r: r, ctx: r.Context()}
		defer func() {
			if !x.done && (x.gone || x.ctx.Err() != nil) {
				s.canceled.Add(1)
			}
		}()
		if r.Method == http.MethodPost {
			body, err := readBody(r)
			if errors.Is(err, errTooLarge) {
				writeOpenAIError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "", "", err.Error())
				x.done = true
				return
			}
			if err != nil {
				x.gone = true
				return
			}
			x.body = body
		}
		x.chunkDelay = time.Duration(s.chunkDelay.Load())
		x.chunks = int(s.chunks.Load())
		if err := x.applyHeaders(); err != nil {
			s.rec.add(r.URL.Path, "", x.body, r.Header)
			writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "", "", err.Error())
			x.done = true
			return
		}
		h(x)
		if d := time.Duration(s.endDelay.Load()); d > 0 && x.done {
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			x.sleep(d)
		}
	}
}

// begin records the request, picks its fault and waits the latency. It
// reports false when the request has been answered (fault) or abandoned.
func (x *exchange) begin(model string) bool {
	s := x.s
	s.rec.add(x.r.URL.Path, model, x.body, x.r.Header)
	if x.fault == nil {
		x.fault = s.takeFault(x.r.URL.Path, model)
	}
	latency := time.Duration(s.latency.Load())
	if v := x.r.Header.Get(HeaderLatency); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			latency = d
		}
	}
	if latency > 0 && !x.sleep(latency) {
		return false
	}
	if f := x.fault; f != nil {
		switch f.Kind {
		case FaultStatus:
			x.writeStatusFault(f)
			return false
		case FaultGarbage:
			x.w.Header().Set("Content-Type", "application/json")
			x.w.WriteHeader(http.StatusOK)
			_, _ = x.w.Write([]byte("<html>this is not json</html>\n"))
			x.done = true
			return false
		case FaultReset:
			if f.After == 0 {
				x.reset()
				return false
			}
		case FaultNone, FaultStreamError, FaultCloseEarly, FaultStall:
		}
	}
	return true
}

// sleep waits d or until the client goes away, reporting false then.
func (x *exchange) sleep(d time.Duration) bool {
	if d <= 0 {
		return x.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-x.ctx.Done():
		return false
	}
}

// write writes p and flushes, noting a client that went away.
func (x *exchange) write(p []byte) bool {
	if x.gone {
		return false
	}
	if _, err := x.w.Write(p); err != nil {
		x.gone = true
		return false
	}
	if err := http.NewResponseController(x.w).Flush(); err != nil {
		x.gone = true
		return false
	}
	return true
}

// streamFault runs the stream fault due after sent chunks, if any. It
// reports true when the stream must stop.
func (x *exchange) streamFault(sent int, errFrame func(msg string) []byte) bool {
	f := x.fault
	if f == nil || sent != f.After {
		return false
	}
	switch f.Kind {
	case FaultStreamError:
		x.write(errFrame(f.message("the model crashed mid-stream")))
		x.done = true
		return true
	case FaultCloseEarly:
		x.done = true
		return true
	case FaultReset:
		x.reset()
		return true
	case FaultStall:
		<-x.ctx.Done()
		return true
	case FaultNone, FaultStatus, FaultGarbage:
	}
	return false
}

// reset breaks the connection with a TCP RST. What was written before is
// flushed first; nothing is sent when nothing was written.
func (x *exchange) reset() {
	conn, _, err := http.NewResponseController(x.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	x.done = true
}

func (x *exchange) newID(prefix string) string {
	return fmt.Sprintf("%s-fake%d", prefix, x.s.ids.Add(1))
}
