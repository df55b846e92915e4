// Package migrate copies collections between retrieval stores without
// re-embedding: each file's chunks, vectors included, are read from the
// source and written to the destination with ReplaceFile, so a copy can be
// repeated or resumed safely. Progress is checkpointed to a file; at the
// end the destination's files and chunk counts are checked against the
// source's, and files the source no longer has are removed from the
// destination.
//
// Writes to the collection while it is copied may be missed: pause its
// ingestion, or copy again (without the checkpoint) before switching the
// collection's store in config.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ragway/ragway/retrieval"
)

// ErrMismatch means the destination does not hold what the source does
// after the copy.
var ErrMismatch = errors.New("destination does not match source")

// Source is a store a collection is copied from.
type Source = retrieval.Reader

// Destination is a store a collection is copied to.
type Destination interface {
	retrieval.Store
	retrieval.Reader
}

// Options tune a copy. The zero value copies with 4 workers and no
// checkpoint.
type Options struct {
	// Checkpoint is the file that records progress; a later run with the
	// same file resumes after the files already copied. Empty: none.
	Checkpoint string
	// From and To name the stores in the checkpoint, so a checkpoint is
	// never applied to another pair.
	From, To string
	// Fresh ignores an existing checkpoint and copies every file.
	Fresh bool
	// Workers copy files in parallel; default 4.
	Workers int
	// Progress, when set, is called after each copied file (from one
	// goroutine at a time).
	Progress func(Progress)
	// SaveEvery bounds how often the checkpoint is written; default 500ms.
	SaveEvery time.Duration
}

// Progress counts the files and chunks done so far, skipped ones included.
type Progress struct {
	Files, TotalFiles   int
	Chunks, TotalChunks int
}

// Report says what a copy did.
type Report struct {
	retrieval.CollectionRef
	// Files and Chunks are the source's counts, which the destination
	// matched.
	Files, Chunks int
	// Copied files were written by this run; Resumed ones had been by an
	// earlier run; Removed ones were in the destination only.
	Copied, Resumed, Removed int
	Elapsed                  time.Duration
}

// Collection copies one collection from src to dst.
func Collection(ctx context.Context, src Source, dst Destination, ref retrieval.CollectionRef, opts Options) (Report, error) {
	start := time.Now()
	rep := Report{CollectionRef: ref}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.SaveEvery <= 0 {
		opts.SaveEvery = 500 * time.Millisecond
	}
	files, err := src.Files(ctx, ref.Tenant, ref.Collection)
	if err != nil {
		return rep, fmt.Errorf("list source files: %w", err)
	}
	total := Progress{TotalFiles: len(files)}
	for _, f := range files {
		total.TotalChunks += f.Chunks
	}
	rep.Files, rep.Chunks = total.TotalFiles, total.TotalChunks

	cp := &checkpoint{Version: 1, From: opts.From, To: opts.To, Tenant: ref.Tenant, Collection: ref.Collection}
	if opts.Checkpoint != "" && !opts.Fresh {
		if cp, err = loadCheckpoint(opts.Checkpoint, cp); err != nil {
			return rep, err
		}
	}
	todo := files
	if cp.Done != "" {
		n := 0
		for n < len(files) && files[n].ID <= cp.Done {
			total.Files++
			total.Chunks += files[n].Chunks
			n++
		}
		rep.Resumed, todo = n, files[n:]
	}
	c := copier{src: src, dst: dst, ref: ref, opts: opts, cp: cp, progress: total}
	if err := c.run(ctx, todo); err != nil {
		return rep, err
	}
	rep.Copied = len(todo)
	if rep.Removed, err = removeExtra(ctx, dst, ref, files); err != nil {
		return rep, err
	}
	if err := verify(ctx, dst, ref, files); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// copier copies files with a pool of workers, advancing the checkpoint
// over the longest prefix of files all copied.
type copier struct {
	src  Source
	dst  Destination
	ref  retrieval.CollectionRef
	opts Options

	mu       sync.Mutex
	cp       *checkpoint
	done     []bool
	next     int // first file of the prefix not yet all done
	progress Progress
	saved    time.Time
}

func (c *copier) run(ctx context.Context, files []retrieval.FileInfo) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.done = make([]bool, len(files))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(c.opts.Workers, max(len(files), 1)) {
		wg.Go(func() {
			for i := range jobs {
				if err := c.copyFile(ctx, files[i]); err != nil {
					cancel(err)
					continue
				}
				c.finish(files, i)
			}
		})
	}
feed:
	for i := range files {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	c.mu.Lock()
	saveErr := c.save(true)
	c.mu.Unlock()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return saveErr
}

func (c *copier) copyFile(ctx context.Context, f retrieval.FileInfo) error {
	chunks, err := c.src.FileChunks(ctx, c.ref.Tenant, c.ref.Collection, f.ID)
	if err != nil {
		return fmt.Errorf("read file %s: %w", f.ID, err)
	}
	if len(chunks) != f.Chunks {
		return fmt.Errorf("read file %s: %w: %d chunks listed, %d read (is the collection being written?)", f.ID, ErrMismatch, f.Chunks, len(chunks))
	}
	if err := c.dst.ReplaceFile(ctx, c.ref.Tenant, c.ref.Collection, f.ID, chunks); err != nil {
		return fmt.Errorf("write file %s: %w", f.ID, err)
	}
	return nil
}

// finish records file i as copied, reports progress and saves the
// checkpoint when it is due.
func (c *copier) finish(files []retrieval.FileInfo, i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done[i] = true
	for c.next < len(files) && c.done[c.next] {
		c.cp.Done = files[c.next].ID
		c.next++
	}
	c.progress.Files++
	c.progress.Chunks += files[i].Chunks
	if c.opts.Progress != nil {
		c.opts.Progress(c.progress)
	}
	_ = c.save(false) // a failed periodic save costs only a longer resume; the final one reports
}

// save writes the checkpoint when forced or due; the caller holds mu.
func (c *copier) save(force bool) error {
	if c.opts.Checkpoint == "" || !force && time.Since(c.saved) < c.opts.SaveEvery {
		return nil
	}
	c.saved = time.Now()
	return c.cp.save(c.opts.Checkpoint)
}

// removeExtra deletes the destination's files that the source lacks.
func removeExtra(ctx context.Context, dst Destination, ref retrieval.CollectionRef, want []retrieval.FileInfo) (int, error) {
	have, err := dst.Files(ctx, ref.Tenant, ref.Collection)
	if err != nil {
		return 0, fmt.Errorf("list destination files: %w", err)
	}
	keep := make(map[string]bool, len(want))
	for _, f := range want {
		keep[f.ID] = true
	}
	n := 0
	for _, f := range have {
		if keep[f.ID] {
			continue
		}
		if err := dst.ReplaceFile(ctx, ref.Tenant, ref.Collection, f.ID, nil); err != nil {
			return n, fmt.Errorf("remove destination file %s: %w", f.ID, err)
		}
		n++
	}
	return n, nil
}

// verify checks the destination lists exactly the source's files with
// the same chunk counts.
func verify(ctx context.Context, dst Destination, ref retrieval.CollectionRef, want []retrieval.FileInfo) error {
	have, err := dst.Files(ctx, ref.Tenant, ref.Collection)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	got := make(map[string]int, len(have))
	for _, f := range have {
		got[f.ID] = f.Chunks
	}
	var diffs []string
	for _, f := range want {
		n, ok := got[f.ID]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("file %s missing", f.ID))
		case n != f.Chunks:
			diffs = append(diffs, fmt.Sprintf("file %s has %d chunks, source %d", f.ID, n, f.Chunks))
		}
		delete(got, f.ID)
	}
	for id := range got {
		diffs = append(diffs, fmt.Sprintf("file %s not in source", id))
	}
	if len(diffs) == 0 {
		return nil
	}
	more := ""
	if len(diffs) > 5 {
		more = fmt.Sprintf(" and %d more", len(diffs)-5)
		diffs = diffs[:5]
	}
	return fmt.Errorf("verify %s/%s: %w: %s%s", ref.Tenant, ref.Collection, ErrMismatch, strings.Join(diffs, "; "), more)
}
