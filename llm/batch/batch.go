// Package batch coalesces concurrent embedding calls into fewer upstream
// calls.
//
// Calls that share a model and dimensions join one pending batch of at most
// Config.MaxInputs inputs. The batch is sent when it is full or Config.MaxWait
// after its first caller arrived, whichever comes first; a caller with more
// inputs than fit is spread over consecutive batches and its vectors are
// reassembled in order. The end user is not part of the key: a batch whose
// callers name different users is sent without one.
//
// Each caller gets its own vectors, in order, and a share of the batch's
// usage proportional to the bytes of its inputs (by input count when every
// input is empty). Shares are rounded so that they add up exactly to the
// upstream's totals.
//
// A failed batch fails only its callers. A caller whose context ends returns
// at once; the upstream call goes on for the others and is cancelled when
// every caller of the batch has gone.
package batch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ragway/ragway/llm"
)

// Observer is told the size of every upstream call, for metrics. It must be
// cheap and must not block.
type Observer interface {
	// Batched is called before each upstream embedding call with its number
	// of inputs and of callers sharing it.
	Batched(inputs, callers int)
}

// NopObserver ignores everything.
type NopObserver struct{}

// Batched implements Observer.
func (NopObserver) Batched(int, int) {}

// errClosed fails calls made to, or still waiting in, a closed Batcher.
var errClosed = fmt.Errorf("embed batcher closed: %w", llm.ErrUnavailable)

// Batcher coalesces Embed calls; Generate, GenerateStream and Models pass
// through. It owns one goroutine per upstream call in flight; Close stops
// them.
type Batcher struct {
	next   llm.Backend
	cfg    Config
	obs    Observer
	closed atomic.Bool

	mu      sync.Mutex
	pending map[key]*batch
	running map[*batch]struct{}
	wg      sync.WaitGroup
}

var _ llm.Backend = (*Batcher)(nil)

type key struct {
	model      string
	dimensions int
}

type batchState int

const (
	statePending batchState = iota
	stateRunning
	stateAbandoned
)

// batch is one upstream call being assembled or in flight. Its fields are
// guarded by Batcher.mu until it runs; then inputs and segs are read-only.
type batch struct {
	key       key
	inputs    []string
	segs      []segment
	user      string
	mixedUser bool
	live      int // callers still waiting
	state     batchState
	timer     *time.Timer
	ctx       context.Context
	cancel    context.CancelFunc
}

// segment is the run of one caller's inputs carried by a batch.
type segment struct {
	call *call
	off  int // offset in the caller's inputs
	at   int // offset in the batch's inputs
	n    int
}

// call is one caller waiting for its vectors.
type call struct {
	vectors [][]float32
	batches []*batch // guarded by Batcher.mu

	mu        sync.Mutex
	remaining int // segments not yet delivered
	usage     llm.Usage
	model     string
	err       error
	finished  bool
	done      chan struct{}
}

// New returns a Batcher in front of b. Config fields left at zero take
// Default. obs may be nil. Close stops it; closing it does not close b.
func New(b llm.Backend, cfg Config, obs Observer) *Batcher {
	if obs == nil {
		obs = NopObserver{}
	}
	return &Batcher{
		next:    b,
		cfg:     cfg.WithDefaults(),
		obs:     obs,
		pending: make(map[key]*batch),
		running: make(map[*batch]struct{}),
	}
}

// Generate implements llm.Backend; it passes through.
func (b *Batcher) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	return b.next.Generate(ctx, req)
}

// GenerateStream implements llm.Backend; it passes through.
func (b *Batcher) GenerateStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return b.next.GenerateStream(ctx, req)
}

// Models implements llm.Backend; it passes through.
func (b *Batcher) Models(ctx context.Context) ([]llm.Model, error) {
	return b.next.Models(ctx)
}

// Embed implements llm.Backend.
func (b *Batcher) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if b.closed.Load() {
		return nil, errClosed
	}
	if len(req.Input) == 0 || b.cfg.MaxInputs <= 1 {
		return b.next.Embed(ctx, req)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &call{vectors: make([][]float32, len(req.Input)), done: make(chan struct{})}
	if !b.enqueue(ctx, c, req) {
		return nil, errClosed
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		b.leave(c)
		return nil, ctx.Err()
	}
	c.mu.Lock()
	err, model, usage := c.err, c.model, c.usage
	c.mu.Unlock()
	if err != nil {
		// Other batches carrying this caller's inputs may still be running.
		b.leave(c)
		return nil, err
	}
	return &llm.EmbedResponse{Vectors: c.vectors, Model: model, Usage: usage}, nil
}

// enqueue spreads the caller's inputs over the pending batch of its key and
// new ones, sending each batch that fills up. It reports false when the
// Batcher is closed.
func (b *Batcher) enqueue(ctx context.Context, c *call, req *llm.EmbedRequest) bool {
	maxInputs := b.cfg.MaxInputs
	k := key{model: req.Model, dimensions: req.Dimensions}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return false
	}
	// Count the segments first: a batch sent below may deliver before the
	// loop ends, and the call must not look finished early.
	first := len(req.Input)
	if bt := b.pending[k]; bt != nil {
		first = min(first, maxInputs-len(bt.inputs))
	} else {
		first = min(first, maxInputs)
	}
	c.remaining = 1 + (len(req.Input)-first+maxInputs-1)/maxInputs

	for off := 0; off < len(req.Input); {
		bt := b.pending[k]
		if bt == nil {
			bt = newBatch(ctx, k, maxInputs)
			b.pending[k] = bt
		}
		n := min(len(req.Input)-off, maxInputs-len(bt.inputs))
		bt.add(c, req, off, n)
		c.batches = append(c.batches, bt)
		off += n
		switch {
		case len(bt.inputs) >= maxInputs:
			b.launchLocked(bt)
		case !b.cfg.WaitWhenIdle && bt.timer == nil && !b.busyLocked(k):
			// Nothing is in flight for this key: waiting would only add
			// latency. Callers that arrive while this call runs are
			// batched behind it.
			b.launchLocked(bt)
		case bt.timer == nil:
			bt.timer = time.AfterFunc(b.cfg.MaxWait, func() { b.expire(bt) })
		}
	}
	return true
}

// busyLocked reports whether an upstream call for k is in flight.
func (b *Batcher) busyLocked(k key) bool {
	for bt := range b.running {
		if bt.key == k {
			return true
		}
	}
	return false
}

// newBatch starts a batch. Its context keeps the values of the first
// caller's (trace and log fields) but not its cancellation: the batch is
// cancelled only when all its callers have gone.
func newBatch(ctx context.Context, k key, maxInputs int) *batch {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &batch{key: k, inputs: make([]string, 0, maxInputs), ctx: bctx, cancel: cancel}
}

func (bt *batch) add(c *call, req *llm.EmbedRequest, off, n int) {
	if len(bt.segs) == 0 {
		bt.user = req.User
	} else if req.User != bt.user {
		bt.mixedUser = true
	}
	bt.segs = append(bt.segs, segment{call: c, off: off, at: len(bt.inputs), n: n})
	bt.inputs = append(bt.inputs, req.Input[off:off+n]...)
	bt.live++
}

// launchLocked sends a pending batch in its own goroutine.
func (b *Batcher) launchLocked(bt *batch) {
	b.startLocked(bt)
	go b.run(bt)
}

// startLocked takes a pending batch out of the queue and accounts for the
// goroutine that will run it.
func (b *Batcher) startLocked(bt *batch) {
	if b.pending[bt.key] == bt {
		delete(b.pending, bt.key)
	}
	if bt.timer != nil {
		bt.timer.Stop()
	}
	bt.state = stateRunning
	b.running[bt] = struct{}{}
	b.wg.Add(1)
}

// expire sends a batch whose wait is over, in the timer's goroutine.
func (b *Batcher) expire(bt *batch) {
	b.mu.Lock()
	if bt.state != statePending || b.closed.Load() {
		b.mu.Unlock()
		return
	}
	b.startLocked(bt)
	b.mu.Unlock()
	b.run(bt)
}

// leave removes a caller that stopped waiting from its batches; a batch left
// without callers is dropped if pending and cancelled if in flight.
func (b *Batcher) leave(c *call) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, bt := range c.batches {
		bt.live--
		if bt.live > 0 {
			continue
		}
		if bt.state == statePending {
			if b.pending[bt.key] == bt {
				delete(b.pending, bt.key)
			}
			bt.timer.Stop()
			bt.state = stateAbandoned
		}
		bt.cancel()
	}
	c.batches = nil
}

// Close fails the calls still waiting for a batch to be sent, cancels the
// upstream calls in flight and waits for their goroutines. It does not close
// the wrapped backend. It is safe to call more than once.
func (b *Batcher) Close() error {
	b.mu.Lock()
	b.closed.Store(true)
	var dropped []*batch
	for _, bt := range b.pending {
		if bt.timer != nil {
			bt.timer.Stop()
		}
		bt.state = stateAbandoned
		bt.cancel()
		dropped = append(dropped, bt)
	}
	clear(b.pending)
	for bt := range b.running {
		bt.cancel()
	}
	b.mu.Unlock()
	for _, bt := range dropped {
		for _, s := range bt.segs {
			s.call.deliver(s, nil, llm.Usage{}, errClosed)
		}
	}
	b.wg.Wait()
	return nil
}
