package batch

import (
	"fmt"

	"github.com/ragway/ragway/llm"
)

// run makes a batch's upstream call and hands every caller its part.
func (b *Batcher) run(bt *batch) {
	defer b.wg.Done()
	resp, err := b.call(bt)
	b.mu.Lock()
	delete(b.running, bt)
	b.mu.Unlock()
	bt.cancel()

	if err != nil {
		if b.closed.Load() {
			err = errClosed
		}
		for _, s := range bt.segs {
			s.call.deliver(s, nil, llm.Usage{}, err)
		}
		return
	}
	shares := splitUsage(resp.Usage, bt.segs, bt.inputs)
	for i, s := range bt.segs {
		s.call.deliver(s, resp, shares[i], nil)
	}
}

// call sends the batch upstream and checks the answer's shape. A panic in
// the backend fails the batch's callers instead of the process.
func (b *Batcher) call(bt *batch) (resp *llm.EmbedResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("embed batch: backend panicked: %v: %w", p, llm.ErrBadUpstream)
		}
	}()
	req := &llm.EmbedRequest{Model: bt.key.model, Dimensions: bt.key.dimensions, Input: bt.inputs}
	if !bt.mixedUser {
		req.User = bt.user
	}
	b.obs.Batched(len(bt.inputs), len(bt.segs))
	resp, err = b.next.Embed(bt.ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp.Vectors) != len(bt.inputs) {
		return nil, fmt.Errorf("embed batch: %d vectors for %d inputs: %w", len(resp.Vectors), len(bt.inputs), llm.ErrBadUpstream)
	}
	return resp, nil
}

// deliver hands one segment's result to its caller, whose wait ends with the
// first error or the last segment.
func (c *call) deliver(s segment, resp *llm.EmbedResponse, usage llm.Usage, err error) {
	if err == nil {
		copy(c.vectors[s.off:s.off+s.n], resp.Vectors[s.at:s.at+s.n])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	if err != nil {
		c.err = err
		c.finished = true
		close(c.done)
		return
	}
	c.model = resp.Model
	c.usage.PromptTokens += usage.PromptTokens
	c.usage.CompletionTokens += usage.CompletionTokens
	c.usage.TotalTokens += usage.TotalTokens
	c.remaining--
	if c.remaining == 0 {
		c.finished = true
		close(c.done)
	}
}
