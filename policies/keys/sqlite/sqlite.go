// Package sqlite keeps API keys in an embedded SQLite file (pure Go,
// modernc.org/sqlite) in WAL mode, for single-node deployments.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/keys"
)

var _ keys.Store = (*Store)(nil)

// BusyTimeout is how long a write waits for another writer (another
// process sharing the file included) before failing.
const BusyTimeout = 5 * time.Second

// Store is a keys.Store over one SQLite file.
type Store struct {
	db *sql.DB
}

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite key store: invalid path %q", path)
	}
	dsn := fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate",
		path, BusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite key store: %w", err)
	}
	db.SetMaxOpenConns(8)
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite key store: %w", err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

const columns = `id, tenant, name, roles, models, created_at, expires_at, revoked_at, last_rotated, rotated_from`

// Insert implements keys.Store.
func (s *Store) Insert(ctx context.Context, k keys.Stored) error {
	roles, models, err := encodeLists(k.Roles, k.Models)
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO api_keys (`+columns+`, hash, hash_alg)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Tenant, k.Name, roles, models, micros(k.CreatedAt), nullMicros(k.ExpiresAt),
		nullMicros(k.RevokedAt), nullMicros(k.LastRotated), k.RotatedFrom, k.Hash, k.HashAlg)
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

// Get implements keys.Store.
func (s *Store) Get(ctx context.Context, tenant, id string) (keys.Record, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM api_keys WHERE tenant = ? AND id = ?`, tenant, id)
	r, err := scanRecord(row.Scan)
	if err != nil {
		return keys.Record{}, fmt.Errorf("get key: %w", err)
	}
	return r, nil
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context, tenant string) ([]keys.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM api_keys WHERE tenant = ? ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []keys.Record
	for rows.Next() {
		r, err := scanRecord(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// Revoke implements keys.Store.
func (s *Store) Revoke(ctx context.Context, tenant, id string, at time.Time) error {
	return s.inTx(ctx, "revoke key", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ?
			WHERE tenant = ? AND id = ? AND (revoked_at IS NULL OR revoked_at > ?)`, micros(at), tenant, id, micros(at))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return exists(ctx, tx, tenant, id)
	})
}

// Rotate implements keys.Store.
func (s *Store) Rotate(ctx context.Context, tenant, id string, at, revokeAt time.Time, next keys.Stored) error {
	roles, models, err := encodeLists(next.Roles, next.Models)
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	return s.inTx(ctx, "rotate key", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ?, last_rotated = ?
			WHERE tenant = ? AND id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
			micros(revokeAt), micros(at), tenant, id, micros(at))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != 1 {
			if err := exists(ctx, tx, tenant, id); err != nil {
				return err
			}
			return keys.ErrInactive
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO api_keys (`+columns+`, hash, hash_alg)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			next.ID, next.Tenant, next.Name, roles, models, micros(next.CreatedAt), nullMicros(next.ExpiresAt),
			nullMicros(next.RevokedAt), nullMicros(next.LastRotated), next.RotatedFrom, next.Hash, next.HashAlg)
		return err
	})
}

// Lookup implements keys.Store.
func (s *Store) Lookup(ctx context.Context, id string) (keys.Stored, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+columns+`, hash, hash_alg FROM api_keys WHERE id = ?`, id)
	var k keys.Stored
	r, err := scanRecord(func(dest ...any) error { return row.Scan(append(dest, &k.Hash, &k.HashAlg)...) })
	if err != nil {
		return keys.Stored{}, fmt.Errorf("look up key: %w", err)
	}
	k.Record = r
	return k, nil
}

func (s *Store) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// exists returns nil when tenant owns id, policies.ErrNotFound otherwise.
func exists(ctx context.Context, tx *sql.Tx, tenant, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE tenant = ? AND id = ?`, tenant, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return policies.ErrNotFound
	}
	return err
}

func scanRecord(scan func(dest ...any) error) (keys.Record, error) {
	var (
		r                         keys.Record
		roles, models             string
		created                   int64
		expires, revoked, rotated sql.NullInt64
	)
	err := scan(&r.ID, &r.Tenant, &r.Name, &roles, &models, &created, &expires, &revoked, &rotated, &r.RotatedFrom)
	if errors.Is(err, sql.ErrNoRows) {
		return r, policies.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(roles), &r.Roles); err != nil {
		return r, fmt.Errorf("decode roles: %w", err)
	}
	if err := json.Unmarshal([]byte(models), &r.Models); err != nil {
		return r, fmt.Errorf("decode models: %w", err)
	}
	r.CreatedAt = fromMicros(created)
	r.ExpiresAt, r.RevokedAt, r.LastRotated = fromNull(expires), fromNull(revoked), fromNull(rotated)
	return r, nil
}

// encodeLists stores nil as "null", which decodes back to nil.
func encodeLists(roles, models []string) (string, string, error) {
	a, err := json.Marshal(nilIfEmpty(roles))
	if err != nil {
		return "", "", err
	}
	b, err := json.Marshal(nilIfEmpty(models))
	return string(a), string(b), err
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}
