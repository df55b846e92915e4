package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ragway/ragway/ingest"
)

// MaxBatchFiles bounds the files of one batch.
const MaxBatchFiles = 500

// AddFile attaches one of tenant's files to a vector store and queues it
// for indexing. Adding a file already attached re-indexes it.
func (s *Service) AddFile(ctx context.Context, tenant, storeID string, req AddFileRequest) (*VectorStoreFile, error) {
	vs, err := s.store(ctx, tenant, storeID)
	if err != nil {
		return nil, err
	}
	if err := s.compatible(vs); err != nil {
		return nil, err
	}
	add, err := s.prepareAdd(ctx, tenant, vs, req)
	if err != nil {
		return nil, err
	}
	if err := s.attach(ctx, tenant, storeID, "", add); err != nil {
		return nil, err
	}
	return s.GetStoreFile(ctx, tenant, storeID, req.FileID)
}

// prepared is a validated AddFileRequest.
type prepared struct {
	fileID   string
	attrs    string
	chunking string
}

func (s *Service) prepareAdd(ctx context.Context, tenant string, vs *VectorStore, req AddFileRequest) (prepared, error) {
	if req.FileID == "" {
		return prepared{}, invalid("file_id", "file_id is required")
	}
	if _, err := s.GetFile(ctx, tenant, req.FileID); err != nil {
		return prepared{}, err
	}
	attrs, err := validateAttributes(req.Attributes)
	if err != nil {
		return prepared{}, err
	}
	cs := vs.ChunkingStrategy
	if req.ChunkingStrategy != nil {
		cs = *req.ChunkingStrategy
		if err := cs.Validate(); err != nil {
			return prepared{}, err
		}
	}
	return prepared{fileID: req.FileID, attrs: mustJSON(attrs), chunking: mustJSON(cs)}, nil
}

// attach records the file in_progress with a new generation and queues its
// job.
func (s *Service) attach(ctx context.Context, tenant, storeID, batchID string, p prepared) error {
	return s.attachAll(ctx, tenant, storeID, batchID, []prepared{p})
}

// attachAll records files in_progress with new generations in one
// transaction, then queues their jobs.
func (s *Service) attachAll(ctx context.Context, tenant, storeID, batchID string, ps []prepared) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("attach files: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	jobs := make([]ingest.Job, 0, len(ps))
	now := s.now().UnixNano()
	for _, p := range ps {
		_, err := tx.ExecContext(ctx, `INSERT INTO ingest_store_files
			(tenant, store_id, file_id, batch_id, status, error_code, error_message, usage_bytes, attributes, chunking, generation, created_ns)
			VALUES ($1, $2, $3, $4, 'in_progress', '', '', 0, $5, $6, 1, $7)
			ON CONFLICT (tenant, store_id, file_id) DO UPDATE SET batch_id = excluded.batch_id, status = 'in_progress',
				error_code = '', error_message = '', attributes = excluded.attributes, chunking = excluded.chunking,
				generation = ingest_store_files.generation + 1`,
			tenant, storeID, p.fileID, batchID, p.attrs, p.chunking, now)
		if err != nil {
			return fmt.Errorf("attach file: %w", err)
		}
		var gen int64
		if err := tx.QueryRowContext(ctx, `SELECT generation FROM ingest_store_files WHERE tenant = $1 AND store_id = $2 AND file_id = $3`,
			tenant, storeID, p.fileID).Scan(&gen); err != nil {
			return fmt.Errorf("attach file: %w", err)
		}
		jobs = append(jobs, jobFor(tenant, storeID, p.fileID, gen))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ingest_vector_stores SET last_active = $1 WHERE tenant = $2 AND id = $3`,
		now, tenant, storeID); err != nil {
		return fmt.Errorf("attach files: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("attach files: %w", err)
	}
	// A job lost between the commit and here is queued again by Resume.
	for _, j := range jobs {
		if err := s.opts.Queue.Enqueue(ctx, j); err != nil {
			return fmt.Errorf("queue file: %w", err)
		}
	}
	return nil
}

func jobFor(tenant, storeID, fileID string, gen int64) ingest.Job {
	return ingest.Job{ID: fmt.Sprintf("%s/%s/%d", storeID, fileID, gen), Tenant: tenant, Collection: storeID, FileID: fileID}
}

const storeFileCols = "file_id, store_id, batch_id, status, error_code, error_message, usage_bytes, attributes, chunking, generation, created_ns"

func scanStoreFile(r scanner) (*VectorStoreFile, error) {
	f := &VectorStoreFile{Object: "vector_store.file"}
	var code, msg, attrs, cs string
	var ns int64
	if err := r.Scan(&f.ID, &f.VectorStoreID, &f.batchID, &f.Status, &code, &msg, &f.UsageBytes, &attrs, &cs, &f.gen, &ns); err != nil {
		return nil, err
	}
	if err := errors.Join(json.Unmarshal([]byte(attrs), &f.Attributes), json.Unmarshal([]byte(cs), &f.ChunkingStrategy)); err != nil {
		return nil, fmt.Errorf("decode vector store file %s: %w", f.ID, err)
	}
	if code != "" {
		f.LastError = &LastError{Code: code, Message: msg}
	}
	f.CreatedAt = ns / 1e9
	return f, nil
}

// GetStoreFile returns a file of one of tenant's vector stores.
func (s *Service) GetStoreFile(ctx context.Context, tenant, storeID, fileID string) (*VectorStoreFile, error) {
	if _, err := s.store(ctx, tenant, storeID); err != nil {
		return nil, err
	}
	return s.storeFile(ctx, tenant, storeID, fileID)
}

func (s *Service) storeFile(ctx context.Context, tenant, storeID, fileID string) (*VectorStoreFile, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+storeFileCols+` FROM ingest_store_files
		WHERE tenant = $1 AND store_id = $2 AND file_id = $3`, tenant, storeID, fileID)
	f, err := scanStoreFile(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("vector store file", fileID)
	}
	if err != nil {
		return nil, fmt.Errorf("get vector store file: %w", err)
	}
	return f, nil
}

// ListStoreFiles lists the files of one of tenant's vector stores,
// optionally only those with status p.Filter.
func (s *Service) ListStoreFiles(ctx context.Context, tenant, storeID string, p ListParams) (*Page[*VectorStoreFile], error) {
	if _, err := s.store(ctx, tenant, storeID); err != nil {
		return nil, err
	}
	return s.listStoreFiles(ctx, tenant, storeID, "", p)
}

func (s *Service) listStoreFiles(ctx context.Context, tenant, storeID, batchID string, p ListParams) (*Page[*VectorStoreFile], error) {
	lq := listQuery{table: "ingest_store_files", cols: storeFileCols, idCol: "file_id",
		where: "tenant = $1 AND store_id = $2", args: []any{tenant, storeID}}
	if batchID != "" {
		lq.args = append(lq.args, batchID)
		lq.where += fmt.Sprintf(" AND batch_id = $%d", len(lq.args))
	}
	if p.Filter != "" {
		lq.args = append(lq.args, string(p.Filter))
		lq.where += fmt.Sprintf(" AND status = $%d", len(lq.args))
	}
	return list(ctx, s.db, lq, p, scanStoreFile, func(f *VectorStoreFile) string { return f.ID })
}

// DeleteStoreFile detaches a file from a vector store and removes its
// chunks. The file itself stays.
func (s *Service) DeleteStoreFile(ctx context.Context, tenant, storeID, fileID string) (*Deleted, error) {
	if _, err := s.storeFile(ctx, tenant, storeID, fileID); err != nil {
		return nil, err
	}
	unlock := s.lock(tenant, storeID, fileID)
	defer unlock()
	// Chunks go first, so a failing store leaves the row for a retry; and
	// again after the row, for a worker elsewhere that wrote in between.
	if err := s.opts.Store.ReplaceFile(ctx, tenant, storeID, fileID, nil); err != nil {
		return nil, fmt.Errorf("delete file chunks: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM ingest_store_files WHERE tenant = $1 AND store_id = $2 AND file_id = $3`,
		tenant, storeID, fileID); err != nil {
		return nil, fmt.Errorf("detach file: %w", err)
	}
	if err := s.opts.Store.ReplaceFile(ctx, tenant, storeID, fileID, nil); err != nil {
		s.opts.Logger.Warn("delete file chunks after detaching", "tenant", tenant, "vector_store", storeID, "file", fileID, "error", err)
	}
	return &Deleted{ID: fileID, Object: "vector_store.file.deleted", Deleted: true}, nil
}

// CreateBatch attaches several files to a vector store.
func (s *Service) CreateBatch(ctx context.Context, tenant, storeID string, req BatchRequest) (*Batch, error) {
	vs, err := s.store(ctx, tenant, storeID)
	if err != nil {
		return nil, err
	}
	if err := s.compatible(vs); err != nil {
		return nil, err
	}
	reqs := req.Files
	if len(req.FileIDs) > 0 && len(req.Files) > 0 {
		return nil, invalid("file_ids", "give file_ids or files, not both")
	}
	for _, id := range req.FileIDs {
		reqs = append(reqs, AddFileRequest{FileID: id, Attributes: req.Attributes, ChunkingStrategy: req.ChunkingStrategy})
	}
	if len(reqs) == 0 || len(reqs) > MaxBatchFiles {
		return nil, invalid("file_ids", "a batch needs 1 to %d files", MaxBatchFiles)
	}
	adds := make([]prepared, 0, len(reqs))
	seen := map[string]bool{}
	for _, r := range reqs {
		p, err := s.prepareAdd(ctx, tenant, vs, r)
		if err != nil {
			return nil, err
		}
		if !seen[p.fileID] {
			seen[p.fileID] = true
			adds = append(adds, p)
		}
	}
	id := newID("vsfb_")
	if _, err := s.db.ExecContext(ctx, `INSERT INTO ingest_batches (tenant, id, store_id, cancelled, created_ns)
		VALUES ($1, $2, $3, 0, $4)`, tenant, id, storeID, s.now().UnixNano()); err != nil {
		return nil, fmt.Errorf("create batch: %w", err)
	}
	if err := s.attachAll(ctx, tenant, storeID, id, adds); err != nil {
		return nil, err
	}
	return s.GetBatch(ctx, tenant, storeID, id)
}

// GetBatch returns a batch with its file counts.
func (s *Service) GetBatch(ctx context.Context, tenant, storeID, batchID string) (*Batch, error) {
	b := &Batch{ID: batchID, Object: "vector_store.files_batch", VectorStoreID: storeID}
	var cancelled, ns int64
	err := s.db.QueryRowContext(ctx, `SELECT cancelled, created_ns FROM ingest_batches WHERE tenant = $1 AND id = $2 AND store_id = $3`,
		tenant, batchID, storeID).Scan(&cancelled, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("file batch", batchID)
	}
	if err != nil {
		return nil, fmt.Errorf("get batch: %w", err)
	}
	b.CreatedAt = ns / 1e9
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM ingest_store_files
		WHERE tenant = $1 AND store_id = $2 AND batch_id = $3 GROUP BY status`, tenant, storeID, batchID)
	if err != nil {
		return nil, fmt.Errorf("count batch files: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count batch files: %w", err)
		}
		b.FileCounts.add(Status(st), n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count batch files: %w", err)
	}
	c := b.FileCounts
	switch {
	case cancelled != 0:
		b.Status = StatusCancelled
	case c.InProgress > 0:
		b.Status = StatusInProgress
	case c.Total > 0 && c.Failed == c.Total:
		b.Status = StatusFailed
	default:
		b.Status = StatusCompleted
	}
	return b, nil
}

// CancelBatch cancels the batch's files that are not indexed yet.
func (s *Service) CancelBatch(ctx context.Context, tenant, storeID, batchID string) (*Batch, error) {
	if _, err := s.GetBatch(ctx, tenant, storeID, batchID); err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE ingest_batches SET cancelled = 1 WHERE tenant = $1 AND id = $2`, tenant, batchID); err != nil {
		return nil, fmt.Errorf("cancel batch: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE ingest_store_files SET status = 'cancelled'
		WHERE tenant = $1 AND store_id = $2 AND batch_id = $3 AND status = 'in_progress'`, tenant, storeID, batchID); err != nil {
		return nil, fmt.Errorf("cancel batch: %w", err)
	}
	return s.GetBatch(ctx, tenant, storeID, batchID)
}

// ListBatchFiles lists the files of a batch.
func (s *Service) ListBatchFiles(ctx context.Context, tenant, storeID, batchID string, p ListParams) (*Page[*VectorStoreFile], error) {
	if _, err := s.GetBatch(ctx, tenant, storeID, batchID); err != nil {
		return nil, err
	}
	return s.listStoreFiles(ctx, tenant, storeID, batchID, p)
}

// UpdateFileAttributes replaces the attributes of a file of a vector store.
// Attributes live on every chunk, so the file is indexed again with the
// chunking strategy it had.
func (s *Service) UpdateFileAttributes(ctx context.Context, tenant, storeID, fileID string, attrs map[string]any) (*VectorStoreFile, error) {
	vs, err := s.store(ctx, tenant, storeID)
	if err != nil {
		return nil, err
	}
	cur, err := s.storeFile(ctx, tenant, storeID, fileID)
	if err != nil {
		return nil, err
	}
	if err := s.compatible(vs); err != nil {
		return nil, err
	}
	cs := cur.ChunkingStrategy
	p, err := s.prepareAdd(ctx, tenant, vs, AddFileRequest{FileID: fileID, Attributes: attrs, ChunkingStrategy: &cs})
	if err != nil {
		return nil, err
	}
	if err := s.attach(ctx, tenant, storeID, cur.batchID, p); err != nil {
		return nil, err
	}
	return s.storeFile(ctx, tenant, storeID, fileID)
}
