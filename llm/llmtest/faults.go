package llmtest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultKind is a way for the fake to misbehave.
type FaultKind int

// Fault kinds.
const (
	FaultNone FaultKind = iota
	// FaultStatus answers Status (500 by default) with an error body in the
	// protocol's shape, and Retry-After when set.
	FaultStatus
	// FaultStreamError sends After chunks, then an error frame: a
	// `data: {"error":{...}}` event for OpenAI, an {"error":"..."} line for
	// Ollama. A non-streaming request gets a 500.
	FaultStreamError
	// FaultCloseEarly sends After chunks, then ends the body cleanly without
	// the protocol's terminator. A non-streaming request gets a truncated body.
	FaultCloseEarly
	// FaultReset sends After chunks (After 0: nothing, not even headers),
	// then resets the TCP connection.
	FaultReset
	// FaultGarbage answers 200 with a body that is not JSON.
	FaultGarbage
	// FaultStall sends After chunks, then waits until the client goes away.
	// A non-streaming request stalls after its headers.
	FaultStall
)

var faultNames = map[string]FaultKind{
	"status":       FaultStatus,
	"stream-error": FaultStreamError,
	"close":        FaultCloseEarly,
	"reset":        FaultReset,
	"garbage":      FaultGarbage,
	"stall":        FaultStall,
}

// Fault describes a misbehaviour and the requests it applies to.
type Fault struct {
	Kind FaultKind
	// Status is the HTTP status of FaultStatus (default 500).
	Status int
	// RetryAfter is the Retry-After header value of FaultStatus, if any.
	RetryAfter string
	// Message is the error message (a default one when empty).
	Message string
	// After is the number of chunks sent before a stream fault.
	After int
	// Times is how many requests the fault applies to; 0 means every
	// request until ClearFaults.
	Times int
	// Model and Path, when set, restrict the fault to requests for that
	// model or URL path ("/v1/chat/completions").
	Model string
	Path  string
}

func (f *Fault) message(def string) string {
	if f.Message != "" {
		return f.Message
	}
	return def
}

// Inject adds a fault. Faults are matched in the order they were added.
func (s *Server) Inject(f Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = append(s.faults, &f)
}

// FailNext makes the next n requests fail with status. A 429 carries
// Retry-After: 1. n below 1 does nothing.
func (s *Server) FailNext(n, status int) {
	if n < 1 {
		return
	}
	f := Fault{Kind: FaultStatus, Status: status, Times: n}
	if status == http.StatusTooManyRequests {
		f.RetryAfter = "1"
	}
	s.Inject(f)
}

// ClearFaults removes every pending fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
}

// takeFault returns the first fault matching the request and uses it up.
func (s *Server) takeFault(path, model string) *Fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if (f.Path != "" && f.Path != path) || (f.Model != "" && f.Model != model) {
			continue
		}
		c := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return &c
	}
	return nil
}

// applyHeaders reads the X-Fake-* overrides of one request.
func (x *exchange) applyHeaders() error {
	h := x.r.Header
	if v := h.Get(HeaderChunkDelay); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %w", HeaderChunkDelay, err)
		}
		x.chunkDelay = d
	}
	if v := h.Get(HeaderChunks); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxChunks {
			return fmt.Errorf("%s: want 0 to %d", HeaderChunks, maxChunks)
		}
		x.chunks = n
	}
	v := h.Get(HeaderFault)
	if v == "" {
		return nil
	}
	kind, ok := faultNames[strings.ToLower(v)]
	if !ok {
		return fmt.Errorf("%s: unknown fault %q", HeaderFault, v)
	}
	f := &Fault{Kind: kind, Status: http.StatusInternalServerError, RetryAfter: h.Get(HeaderRetryAfter)}
	if s := h.Get(HeaderStatus); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 400 || n > 599 {
			return fmt.Errorf("%s: want a status from 400 to 599", HeaderStatus)
		}
		f.Status = n
	}
	if s := h.Get(HeaderAfter); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("%s: want a count", HeaderAfter)
		}
		f.After = n
	}
	x.fault = f
	return nil
}

// writeStatusFault answers an error status in the protocol of the request.
func (x *exchange) writeStatusFault(f *Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if f.RetryAfter != "" {
		x.w.Header().Set("Retry-After", f.RetryAfter)
	}
	msg := f.message(defaultMessage(status))
	if x.isOllama() {
		writeOllamaError(x.w, status, msg)
	} else {
		typ, code := openAIErrorType(status)
		writeOpenAIError(x.w, status, typ, "", code, msg)
	}
	x.done = true
}

func (x *exchange) isOllama() bool { return strings.HasPrefix(x.r.URL.Path, "/api/") }

func defaultMessage(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "Rate limit reached, please try again later"
	case http.StatusServiceUnavailable:
		return "The server is overloaded, please try again later"
	}
	return "The server had an error while processing your request"
}

func openAIErrorType(status int) (typ, code string) {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_error", "rate_limit_exceeded"
	case status == http.StatusUnauthorized:
		return "authentication_error", "invalid_api_key"
	case status == http.StatusNotFound:
		return "invalid_request_error", "model_not_found"
	case status < 500:
		return "invalid_request_error", ""
	}
	return "server_error", ""
}

// maxBody bounds a request body.
const maxBody = 32 << 20

var errTooLarge = errors.New("request body too large")

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(b) > maxBody {
		return nil, errTooLarge
	}
	return b, nil
}
