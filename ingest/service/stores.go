package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ragway/ragway/embed"
)

// MaxStoreNameLen bounds a vector store's name.
const MaxStoreNameLen = 256

// CreateStore creates a vector store for tenant, recording the chunking
// strategy and the embedder that will build it.
func (s *Service) CreateStore(ctx context.Context, tenant string, req CreateStoreRequest) (*VectorStore, error) {
	if len(req.Name) > MaxStoreNameLen {
		return nil, invalid("name", "name must be at most %d characters", MaxStoreNameLen)
	}
	if err := validateMetadata(req.Metadata); err != nil {
		return nil, err
	}
	if err := validateExpiry(req.ExpiresAfter); err != nil {
		return nil, err
	}
	cs := AutoStrategy
	if req.ChunkingStrategy != nil {
		cs = *req.ChunkingStrategy
	}
	if err := cs.Validate(); err != nil {
		return nil, err
	}
	for _, fid := range req.FileIDs {
		if _, err := s.GetFile(ctx, tenant, fid); err != nil {
			return nil, err
		}
	}
	md := req.Metadata
	if md == nil {
		md = map[string]string{}
	}
	var days int64
	if req.ExpiresAfter != nil {
		days = req.ExpiresAfter.Days
	}
	id := newID("vs_")
	now := s.now().UnixNano()
	_, err := s.db.ExecContext(ctx, `INSERT INTO ingest_vector_stores
		(tenant, id, name, metadata, chunking, embedder, expires_days, created_ns, last_active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		tenant, id, req.Name, mustJSON(md), mustJSON(cs), mustJSON(s.opts.Embedder.Info()), days, now, now)
	if err != nil {
		return nil, fmt.Errorf("create vector store: %w", err)
	}
	for _, fid := range req.FileIDs {
		if _, err := s.AddFile(ctx, tenant, id, AddFileRequest{FileID: fid}); err != nil {
			return nil, err
		}
	}
	return s.GetStore(ctx, tenant, id)
}

const storeCols = "id, name, metadata, chunking, embedder, expires_days, created_ns, last_active"

func scanStore(r scanner) (*VectorStore, error) {
	vs := &VectorStore{Object: "vector_store"}
	var md, cs, emb string
	var days, created, active int64
	if err := r.Scan(&vs.ID, &vs.Name, &md, &cs, &emb, &days, &created, &active); err != nil {
		return nil, err
	}
	if err := errors.Join(json.Unmarshal([]byte(md), &vs.Metadata), json.Unmarshal([]byte(cs), &vs.ChunkingStrategy),
		json.Unmarshal([]byte(emb), &vs.Embedder)); err != nil {
		return nil, fmt.Errorf("decode vector store %s: %w", vs.ID, err)
	}
	vs.CreatedAt, vs.LastActiveAt = created/1e9, active/1e9
	if days > 0 {
		vs.ExpiresAfter = &ExpiresAfter{Anchor: "last_active_at", Days: days}
		at := time.Unix(0, active).Add(time.Duration(days) * 24 * time.Hour).Unix()
		vs.ExpiresAt = &at
	}
	return vs, nil
}

// store returns the record of one of tenant's vector stores, without
// counts.
func (s *Service) store(ctx context.Context, tenant, id string) (*VectorStore, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+storeCols+" FROM ingest_vector_stores WHERE tenant = $1 AND id = $2", tenant, id)
	vs, err := scanStore(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("vector store", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get vector store: %w", err)
	}
	return vs, nil
}

// GetStore returns one of tenant's vector stores with its file counts.
func (s *Service) GetStore(ctx context.Context, tenant, id string) (*VectorStore, error) {
	vs, err := s.store(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	return vs, s.fillCounts(ctx, tenant, vs)
}

func (s *Service) fillCounts(ctx context.Context, tenant string, vs *VectorStore) error {
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*), CAST(COALESCE(SUM(usage_bytes), 0) AS BIGINT) FROM ingest_store_files
		WHERE tenant = $1 AND store_id = $2 GROUP BY status`, tenant, vs.ID)
	if err != nil {
		return fmt.Errorf("count vector store files: %w", err)
	}
	defer rows.Close()
	var c FileCounts
	var usage int64
	for rows.Next() {
		var st string
		var n, u int64
		if err := rows.Scan(&st, &n, &u); err != nil {
			return fmt.Errorf("count vector store files: %w", err)
		}
		c.add(Status(st), n)
		usage += u
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count vector store files: %w", err)
	}
	vs.FileCounts, vs.UsageBytes = c, usage
	switch {
	case vs.ExpiresAt != nil && s.now().Unix() >= *vs.ExpiresAt:
		vs.Status = "expired"
	case c.InProgress > 0:
		vs.Status = "in_progress"
	default:
		vs.Status = "completed"
	}
	return nil
}

func (c *FileCounts) add(st Status, n int64) {
	switch st {
	case StatusInProgress:
		c.InProgress += n
	case StatusCompleted:
		c.Completed += n
	case StatusFailed:
		c.Failed += n
	case StatusCancelled:
		c.Cancelled += n
	}
	c.Total += n
}

// ListStores lists tenant's vector stores.
func (s *Service) ListStores(ctx context.Context, tenant string, p ListParams) (*Page[*VectorStore], error) {
	p.Filter, p.Purpose = "", ""
	lq := listQuery{table: "ingest_vector_stores", cols: storeCols, idCol: "id", where: "tenant = $1", args: []any{tenant}}
	page, err := list(ctx, s.db, lq, p, scanStore, func(v *VectorStore) string { return v.ID })
	if err != nil {
		return nil, err
	}
	for _, vs := range page.Data {
		if err := s.fillCounts(ctx, tenant, vs); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// UpdateStore changes a vector store's name, metadata or expiration.
func (s *Service) UpdateStore(ctx context.Context, tenant, id string, req UpdateStoreRequest) (*VectorStore, error) {
	vs, err := s.store(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if req.Name != nil {
		if len(*req.Name) > MaxStoreNameLen {
			return nil, invalid("name", "name must be at most %d characters", MaxStoreNameLen)
		}
		vs.Name = *req.Name
	}
	if req.Metadata != nil {
		if err := validateMetadata(req.Metadata); err != nil {
			return nil, err
		}
		vs.Metadata = req.Metadata
	}
	var days int64
	if vs.ExpiresAfter != nil {
		days = vs.ExpiresAfter.Days
	}
	if req.ExpiresAfter != nil {
		if err := validateExpiry(req.ExpiresAfter); err != nil {
			return nil, err
		}
		days = req.ExpiresAfter.Days
	}
	if req.ClearExpiry {
		days = 0
	}
	_, err = s.db.ExecContext(ctx, `UPDATE ingest_vector_stores SET name = $1, metadata = $2, expires_days = $3, last_active = $4
		WHERE tenant = $5 AND id = $6`, vs.Name, mustJSON(vs.Metadata), days, s.now().UnixNano(), tenant, id)
	if err != nil {
		return nil, fmt.Errorf("update vector store: %w", err)
	}
	return s.GetStore(ctx, tenant, id)
}

// DeleteStore deletes a vector store and its chunks. The files stay.
func (s *Service) DeleteStore(ctx context.Context, tenant, id string) (*Deleted, error) {
	if _, err := s.store(ctx, tenant, id); err != nil {
		return nil, err
	}
	// Chunks go first, so a failing store leaves the rows for a retry; and
	// again after them, for a worker elsewhere that wrote in between.
	// Files still queued see their row gone and are dropped by the worker.
	if err := s.opts.Store.DeleteCollection(ctx, tenant, id); err != nil {
		return nil, fmt.Errorf("delete vector store chunks: %w", err)
	}
	for _, stmt := range []string{
		`DELETE FROM ingest_store_files WHERE tenant = $1 AND store_id = $2`,
		`DELETE FROM ingest_batches WHERE tenant = $1 AND store_id = $2`,
		`DELETE FROM ingest_vector_stores WHERE tenant = $1 AND id = $2`,
	} {
		if _, err := s.db.ExecContext(ctx, stmt, tenant, id); err != nil {
			return nil, fmt.Errorf("delete vector store: %w", err)
		}
	}
	if err := s.opts.Store.DeleteCollection(ctx, tenant, id); err != nil {
		s.opts.Logger.Warn("delete vector store chunks after its rows", "tenant", tenant, "vector_store", id, "error", err)
	}
	return &Deleted{ID: id, Object: "vector_store.deleted", Deleted: true}, nil
}

// compatible refuses a vector store built by another embedder.
func (s *Service) compatible(vs *VectorStore) error {
	if err := embed.CheckCompatible(vs.Embedder, s.opts.Embedder.Info()); err != nil {
		return fmt.Errorf("vector store %s: %w", vs.ID, err)
	}
	return nil
}

func (s *Service) touch(ctx context.Context, tenant, id string) {
	_, _ = s.db.ExecContext(ctx, `UPDATE ingest_vector_stores SET last_active = $1 WHERE tenant = $2 AND id = $3`,
		s.now().UnixNano(), tenant, id)
}
