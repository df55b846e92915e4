package llmtest

import (
	"net/http"
	"sync"
)

// Recorded is one request the server received.
type Recorded struct {
	Path  string
	Model string
	// Body is the raw request body.
	Body   []byte
	Header http.Header
}

// recorder keeps the last bodies per path and counters per path and model.
type recorder struct {
	mu     sync.Mutex
	limit  int
	byPath map[string][]Recorded
	paths  map[string]int
	models map[string]int
}

func (r *recorder) init() {
	r.byPath = make(map[string][]Recorded)
	r.paths = make(map[string]int)
	r.models = make(map[string]int)
}

func (r *recorder) add(path, model string, body []byte, h http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths[path]++
	if model != "" {
		r.models[model]++
	}
	if r.limit == 0 {
		return
	}
	list := r.byPath[path]
	if len(list) >= r.limit {
		copy(list, list[1:])
		list = list[:len(list)-1]
	}
	r.byPath[path] = append(list, Recorded{Path: path, Model: model, Body: body, Header: h.Clone()})
}

// Requests returns the last requests received on path, oldest first.
func (s *Server) Requests(path string) []Recorded {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]Recorded(nil), s.rec.byPath[path]...)
}

// LastRequest returns the last request received on path.
func (s *Server) LastRequest(path string) (Recorded, bool) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	list := s.rec.byPath[path]
	if len(list) == 0 {
		return Recorded{}, false
	}
	return list[len(list)-1], true
}

// Count returns how many requests path received.
func (s *Server) Count(path string) int {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.paths[path]
}

// ModelCount returns how many requests named model.
func (s *Server) ModelCount(model string) int {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.models[model]
}

// Total returns how many requests the server received on any path.
func (s *Server) Total() int {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	n := 0
	for _, c := range s.rec.paths {
		n += c
	}
	return n
}

// Canceled returns how many requests ended because the client went away
// before the response was complete.
func (s *Server) Canceled() int { return int(s.canceled.Load()) }

// Conns returns how many connections the server accepted, to check that
// clients keep theirs alive.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// ResetRecords forgets every recorded request and counter.
func (s *Server) ResetRecords() {
	s.rec.mu.Lock()
	s.rec.init()
	s.rec.mu.Unlock()
	s.canceled.Store(0)
}
