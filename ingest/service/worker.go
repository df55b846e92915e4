package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval"
)

// Run re-queues the files left in progress by a previous process, then
// consumes the queue until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Resume(ctx); err != nil {
		s.log.Error("resume unfinished files failed", "error", err)
	}
	return s.opts.Queue.Consume(ctx, s.Handle)
}

// Resume queues a job for every file still in progress. Jobs are durable,
// so most already exist; handling one twice is harmless.
func (s *Service) Resume(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT tenant, store_id, file_id, generation FROM ingest_store_files
		WHERE status = 'in_progress'`)
	if err != nil {
		return fmt.Errorf("list unfinished files: %w", err)
	}
	var jobs []ingest.Job
	for rows.Next() {
		var tenant, store, file string
		var gen int64
		if err := rows.Scan(&tenant, &store, &file, &gen); err != nil {
			_ = rows.Close()
			return fmt.Errorf("list unfinished files: %w", err)
		}
		jobs = append(jobs, jobFor(tenant, store, file, gen))
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list unfinished files: %w", err)
	}
	for _, j := range jobs {
		if err := s.opts.Queue.Enqueue(ctx, j); err != nil {
			return fmt.Errorf("re-queue %s: %w", j.ID, err)
		}
	}
	if len(jobs) > 0 {
		s.log.Info("re-queued unfinished files", "files", len(jobs))
	}
	return nil
}

// Handle processes one job: it loads, chunks, embeds and indexes the file
// and records the outcome. It returns an error only when the job must be
// delivered again (the service is stopping).
func (s *Service) Handle(ctx context.Context, job ingest.Job) (err error) {
	unlock := s.lock(job.Tenant, job.Collection, job.FileID)
	defer unlock()
	f, err := s.storeFile(ctx, job.Tenant, job.Collection, job.FileID)
	if errors.Is(err, errNotFound) {
		return nil // detached or its store deleted
	}
	if err != nil {
		return err
	}
	if f.Status != StatusInProgress {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("indexing panicked", "file", job.FileID, "panic", r)
			err = s.finish(ctx, job, f.gen, StatusFailed, &LastError{Code: ingest.CodeServerError, Message: "internal error while indexing the file"}, 0)
		}
	}()
	usage, err := s.index(ctx, job, f)
	switch {
	case err == nil:
		return s.finish(ctx, job, f.gen, StatusCompleted, nil, usage)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	le, ok := documentError(err)
	if !ok {
		s.log.Warn("indexing failed", "tenant", job.Tenant, "vector_store", job.Collection, "file", job.FileID, "error", err)
		le = &LastError{Code: ingest.CodeServerError, Message: failureMessage(err)}
	}
	return s.finish(ctx, job, f.gen, StatusFailed, le, 0)
}

// stageError names the stage that failed after its retries.
type stageError struct {
	stage    string
	attempts int
	err      error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// failureMessage is a last_error message fit for the tenant: the stage and
// the kind of failure, never an upstream's internals.
func failureMessage(err error) string {
	var se *stageError
	if !errors.As(err, &se) {
		return "internal error while indexing the file"
	}
	if errors.Is(err, embed.ErrModelMismatch) {
		return err.Error()
	}
	return fmt.Sprintf("the %s failed after %d attempts", se.stage, se.attempts)
}

// index builds and writes the file's chunks and returns the bytes of text
// indexed.
func (s *Service) index(ctx context.Context, job ingest.Job, f *VectorStoreFile) (int64, error) {
	vs, err := s.store(ctx, job.Tenant, job.Collection)
	if err != nil {
		return 0, err
	}
	if err := s.compatible(vs); err != nil {
		return 0, &stageError{stage: "embedder", attempts: 1, err: err}
	}
	// Catalogue and disk reads are retried like the other stages: only a
	// file that is really gone fails at once.
	var file *File
	var data []byte
	err = s.retry(ctx, "file read", func() error {
		var err error
		if file, err = s.GetFile(ctx, job.Tenant, job.FileID); errors.Is(err, errNotFound) {
			return ingest.Invalid(ingest.CodeInvalid, "the file was deleted")
		} else if err != nil {
			return err
		}
		data, err = os.ReadFile(s.filePath(job.Tenant, job.FileID))
		return err
	})
	if err != nil {
		return 0, err
	}
	doc, err := s.load(ctx, data, file.Filename)
	if err != nil {
		return 0, err
	}
	pieces, err := s.opts.Split(doc, f.ChunkingStrategy)
	if err != nil {
		return 0, fmt.Errorf("split: %w", err)
	}
	if len(pieces) == 0 {
		return 0, ingest.Invalid(ingest.CodeEmpty, "the document has no text to index")
	}
	chunks := make([]retrieval.Chunk, len(pieces))
	var usage int64
	for i, p := range pieces {
		id := p.ID
		if id == "" {
			id = chunkID(job, i, p.Text)
		}
		chunks[i] = retrieval.Chunk{ID: id, Tenant: job.Tenant, Collection: job.Collection, FileID: job.FileID,
			Filename: file.Filename, Index: i, Text: p.Text, Title: p.Title, Heading: p.Heading, Page: p.Page,
			Attributes: f.Attributes}
		usage += int64(len(p.Text))
	}
	if err := s.embedChunks(ctx, chunks); err != nil {
		return 0, err
	}
	err = s.retry(ctx, "vector store", func() error {
		return s.opts.Store.ReplaceFile(ctx, job.Tenant, job.Collection, job.FileID, chunks)
	})
	return usage, err
}

// load parses data under the load timeout.
func (s *Service) load(ctx context.Context, data []byte, filename string) (*ingest.Document, error) {
	lctx, cancel := context.WithTimeout(ctx, s.opts.LoadTimeout)
	defer cancel()
	doc, err := s.opts.Load(lctx, data, filename)
	if err != nil && ctx.Err() == nil && errors.Is(lctx.Err(), context.DeadlineExceeded) {
		return nil, ingest.Invalid(ingest.CodeInvalid, "parsing the file took longer than %s", s.opts.LoadTimeout)
	}
	if err != nil {
		if _, ok := documentError(err); ok || ctx.Err() != nil {
			return nil, err
		}
		return nil, ingest.Invalid(ingest.CodeInvalid, "the file could not be parsed")
	}
	return doc, nil
}

// embedChunks fills the chunks' vectors in batches.
func (s *Service) embedChunks(ctx context.Context, chunks []retrieval.Chunk) error {
	want := s.opts.Embedder.Info().Dimensions
	for start := 0; start < len(chunks); start += s.opts.EmbedBatch {
		end := min(start+s.opts.EmbedBatch, len(chunks))
		texts := make([]string, end-start)
		for i := range texts {
			texts[i] = chunks[start+i].Text
		}
		var vecs [][]float32
		err := s.retry(ctx, "embedder", func() error {
			var err error
			vecs, err = s.opts.Embedder.Embed(ctx, texts)
			if err == nil && len(vecs) != len(texts) {
				err = fmt.Errorf("embedder returned %d vectors for %d texts", len(vecs), len(texts))
			}
			return err
		})
		if err != nil {
			return err
		}
		for i, v := range vecs {
			if want > 0 && len(v) != want {
				return &stageError{stage: "embedder", attempts: 1, err: fmt.Errorf("vector of %d dimensions, want %d", len(v), want)}
			}
			chunks[start+i].Vector = v
		}
	}
	return nil
}

// retry runs op until it succeeds, fails permanently, or the attempts are
// spent, backing off exponentially between tries.
func (s *Service) retry(ctx context.Context, stage string, op func() error) error {
	wait := s.opts.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		if err = op(); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= s.opts.Attempts || errors.Is(err, embed.ErrModelMismatch) || errors.Is(err, retrieval.ErrInvalidQuery) ||
			errors.Is(err, llm.ErrInvalidRequest) || errors.Is(err, ingest.ErrInvalidDocument) {
			return &stageError{stage: stage, attempts: attempt, err: err}
		}
		s.log.Warn("indexing step failed; retrying", "stage", stage, "attempt", attempt, "backoff", wait.String(), "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, s.opts.MaxBackoff)
	}
}

// finish records the outcome of generation gen. When the file was
// detached, cancelled or re-added meanwhile, the outcome is dropped, and
// chunks written for a file no longer wanted are removed.
func (s *Service) finish(ctx context.Context, job ingest.Job, gen int64, st Status, le *LastError, usage int64) error {
	code, msg := "", ""
	if le != nil {
		code, msg = le.Code, truncate(le.Message, 1000)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE ingest_store_files SET status = $1, error_code = $2, error_message = $3, usage_bytes = $4
		WHERE tenant = $5 AND store_id = $6 AND file_id = $7 AND generation = $8 AND status = 'in_progress'`,
		string(st), code, msg, usage, job.Tenant, job.Collection, job.FileID, gen)
	if err != nil {
		return fmt.Errorf("record outcome: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("record outcome: %w", err)
	}
	stale := false
	if n == 0 {
		cur, err := s.storeFile(ctx, job.Tenant, job.Collection, job.FileID)
		stale = errors.Is(err, errNotFound) || (err == nil && cur.gen == gen && cur.Status == StatusCancelled)
	}
	if st == StatusFailed || stale {
		if err := s.opts.Store.ReplaceFile(ctx, job.Tenant, job.Collection, job.FileID, nil); err != nil {
			s.log.Warn("remove chunks of unindexed file failed", "file", job.FileID, "error", err)
		}
	}
	return nil
}

// chunkID derives a chunk's id from where it is and what it says, so
// indexing the same content again yields the same ids.
func chunkID(job ingest.Job, index int, text string) string {
	h := sha256.New()
	for _, p := range []string{job.Tenant, job.Collection, job.FileID, strconv.Itoa(index), text} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
