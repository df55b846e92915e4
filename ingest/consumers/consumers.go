// Package consumers is the lifecycle both ingest queues share: worker
// goroutines started by Consume, stopped when its context ends or the queue
// closes, and a Close that waits for every handler to return.
package consumers

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by a queue used after Close.
var ErrClosed = errors.New("queue closed")

// Group runs the consumers of one queue.
type Group struct {
	mu     sync.Mutex
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// New returns an open Group.
func New() *Group { return &Group{done: make(chan struct{})} }

// Closed reports whether Close was called.
func (g *Group) Closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// Run runs work in n goroutines until ctx is done or the group is closed;
// each work's context is cancelled then. It returns after every work has
// returned: nil when ctx ended, ErrClosed when the group was closed.
func (g *Group) Run(ctx context.Context, n int, work func(context.Context)) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-g.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(ctx)
		}()
	}
	wg.Wait()
	if g.Closed() {
		return ErrClosed
	}
	return nil
}

// Close stops every Run and waits for them. It reports false when the group
// was already closed.
func (g *Group) Close() bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.closed = true
	close(g.done)
	g.mu.Unlock()
	g.wg.Wait()
	return true
}
