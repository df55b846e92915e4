package service

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Purposes accepted for uploads.
var purposes = map[string]bool{
	"assistants": true, "user_data": true, "batch": true, "fine-tune": true, "vision": true, "evals": true,
}

// MaxFilenameLen bounds an uploaded file's name.
const MaxFilenameLen = 512

// Upload stores a file for tenant: its bytes are written and synced under
// the data dir, then recorded, before Upload returns.
func (s *Service) Upload(ctx context.Context, tenant, filename, purpose string, r io.Reader) (*File, error) {
	filename = filepath.Base(strings.ReplaceAll(filename, "\\", "/"))
	if filename == "" || filename == "." || filename == "/" || len(filename) > MaxFilenameLen || !utf8.ValidString(filename) {
		return nil, invalid("file", "the file needs a name of at most %d bytes", MaxFilenameLen)
	}
	if !purposes[purpose] {
		return nil, invalid("purpose", "purpose must be one of assistants, user_data, batch, fine-tune, vision or evals")
	}
	id := newID("file-")
	path := s.filePath(tenant, id)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create file dir: %w", err)
	}
	n, sum, err := writeSynced(path, r, s.opts.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	f := &File{ID: id, Object: "file", Bytes: n, CreatedAt: s.now().Unix(), Filename: filename, Purpose: purpose,
		Status: "processed", SHA256: sum}
	_, err = s.db.ExecContext(ctx, `INSERT INTO ingest_files (tenant, id, filename, purpose, bytes, sha256, created_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, tenant, id, filename, purpose, n, sum, s.now().UnixNano())
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("record file: %w", err)
	}
	return f, nil
}

// writeSynced writes r to path (at most limit bytes) through a temporary
// file, syncs it and renames it into place.
func writeSynced(path string, r io.Reader, limit int64) (int64, string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return 0, "", fmt.Errorf("create upload: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		err = fmt.Errorf("%w: the file is larger than %d bytes", ErrTooLarge, limit)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, "", fmt.Errorf("write upload: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, "", fmt.Errorf("store upload: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

var safeTenant = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// filePath is files/<tenant>/<id>; tenants that are not safe path
// elements are hashed.
func (s *Service) filePath(tenant, id string) string {
	dir := tenant
	if !safeTenant.MatchString(tenant) {
		sum := sha256.Sum256([]byte(tenant))
		dir = "t-" + hex.EncodeToString(sum[:16])
	}
	return filepath.Join(s.opts.DataDir, "files", dir, filepath.Base(id))
}

// GetFile returns one of tenant's files.
func (s *Service) GetFile(ctx context.Context, tenant, id string) (*File, error) {
	row := s.db.QueryRowContext(ctx, `SELECT id, filename, purpose, bytes, sha256, created_ns FROM ingest_files
		WHERE tenant = $1 AND id = $2`, tenant, id)
	f, err := scanFile(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("file", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get file: %w", err)
	}
	return f, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanFile(r scanner) (*File, error) {
	f := &File{Object: "file", Status: "processed"}
	var ns int64
	if err := r.Scan(&f.ID, &f.Filename, &f.Purpose, &f.Bytes, &f.SHA256, &ns); err != nil {
		return nil, err
	}
	f.CreatedAt = ns / 1e9
	return f, nil
}

// ListFiles lists tenant's files.
func (s *Service) ListFiles(ctx context.Context, tenant string, p ListParams) (*Page[*File], error) {
	lq := listQuery{table: "ingest_files", cols: "id, filename, purpose, bytes, sha256, created_ns", idCol: "id",
		where: "tenant = $1", args: []any{tenant}}
	if p.Purpose != "" {
		lq.where += " AND purpose = $2"
		lq.args = append(lq.args, p.Purpose)
	}
	return list(ctx, s.db, lq, p, scanFile, func(f *File) string { return f.ID })
}

// OpenContent opens the bytes of one of tenant's files.
func (s *Service) OpenContent(ctx context.Context, tenant, id string) (*File, io.ReadSeekCloser, error) {
	f, err := s.GetFile(ctx, tenant, id)
	if err != nil {
		return nil, nil, err
	}
	r, err := os.Open(s.filePath(tenant, id))
	if err != nil {
		return nil, nil, fmt.Errorf("open file content: %w", err)
	}
	return f, r, nil
}

// DeleteFile deletes one of tenant's files, its chunks in every vector
// store that holds it, and its bytes.
func (s *Service) DeleteFile(ctx context.Context, tenant, id string) (*Deleted, error) {
	if _, err := s.GetFile(ctx, tenant, id); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT store_id FROM ingest_store_files WHERE tenant = $1 AND file_id = $2`, tenant, id)
	if err != nil {
		return nil, fmt.Errorf("list file's stores: %w", err)
	}
	var storeIDs []string
	for rows.Next() {
		var sid string
		if err := rows.Scan(&sid); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("list file's stores: %w", err)
		}
		storeIDs = append(storeIDs, sid)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list file's stores: %w", err)
	}
	for _, sid := range storeIDs {
		if _, err := s.DeleteStoreFile(ctx, tenant, sid, id); err != nil && !errors.Is(err, errNotFound) {
			return nil, err
		}
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM ingest_files WHERE tenant = $1 AND id = $2`, tenant, id); err != nil {
		return nil, fmt.Errorf("delete file: %w", err)
	}
	if err := os.Remove(s.filePath(tenant, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("remove file bytes failed", "file", id, "error", err)
	}
	return &Deleted{ID: id, Object: "file", Deleted: true}, nil
}
