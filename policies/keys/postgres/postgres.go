// Package postgres keeps API keys in PostgreSQL (pgx, pgxpool), for
// deployments with several gateway replicas sharing one key table.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/policies"
	"github.com/ragway/ragway/policies/keys"
)

var _ keys.Store = (*Store)(nil)

// Store is a keys.Store over a PostgreSQL connection pool.
type Store struct {
	pool *pgxpool.Pool
}

// Options tune the pool.
type Options struct {
	// MaxConns bounds the pool; pgx's default when 0.
	MaxConns int32
}

// Open connects to dsn and applies pending migrations under an advisory
// lock, so replicas starting together migrate once. Errors never contain
// the DSN.
func Open(ctx context.Context, dsn llm.Secret, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn.Reveal())
	if err != nil {
		return nil, errors.New("open postgres key store: invalid dsn")
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres key store: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres key store: %w", err)
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

const columns = `id, tenant, name, roles, models, created_at, expires_at, revoked_at, last_rotated, rotated_from`

const insertSQL = `INSERT INTO api_keys (` + columns + `, hash, hash_alg)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

func insertArgs(k keys.Stored) []any {
	return []any{k.ID, k.Tenant, k.Name, list(k.Roles), list(k.Models), k.CreatedAt, null(k.ExpiresAt),
		null(k.RevokedAt), null(k.LastRotated), k.RotatedFrom, k.Hash, k.HashAlg}
}

// Insert implements keys.Store.
func (s *Store) Insert(ctx context.Context, k keys.Stored) error {
	if _, err := s.pool.Exec(ctx, insertSQL, insertArgs(k)...); err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

// Get implements keys.Store.
func (s *Store) Get(ctx context.Context, tenant, id string) (keys.Record, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+columns+` FROM api_keys WHERE tenant = $1 AND id = $2`, tenant, id)
	r, err := scanRecord(row.Scan)
	if err != nil {
		return keys.Record{}, fmt.Errorf("get key: %w", err)
	}
	return r, nil
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context, tenant string) ([]keys.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM api_keys WHERE tenant = $1 ORDER BY created_at, id`, tenant)
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $3
			WHERE tenant = $1 AND id = $2 AND (revoked_at IS NULL OR revoked_at > $3)`, tenant, id, at)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		return exists(ctx, tx, tenant, id)
	})
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	return nil
}

// Rotate implements keys.Store.
func (s *Store) Rotate(ctx context.Context, tenant, id string, at, revokeAt time.Time, next keys.Stored) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $3, last_rotated = $4
			WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)`,
			tenant, id, revokeAt, at)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			if err := exists(ctx, tx, tenant, id); err != nil {
				return err
			}
			return keys.ErrInactive
		}
		_, err = tx.Exec(ctx, insertSQL, insertArgs(next)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	return nil
}

// Lookup implements keys.Store.
func (s *Store) Lookup(ctx context.Context, id string) (keys.Stored, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+columns+`, hash, hash_alg FROM api_keys WHERE id = $1`, id)
	var k keys.Stored
	r, err := scanRecord(func(dest ...any) error { return row.Scan(append(dest, &k.Hash, &k.HashAlg)...) })
	if err != nil {
		return keys.Stored{}, fmt.Errorf("look up key: %w", err)
	}
	k.Record = r
	return k, nil
}

// exists returns nil when tenant owns id, policies.ErrNotFound otherwise.
func exists(ctx context.Context, tx pgx.Tx, tenant, id string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM api_keys WHERE tenant = $1 AND id = $2`, tenant, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return policies.ErrNotFound
	}
	return err
}

func scanRecord(scan func(dest ...any) error) (keys.Record, error) {
	var (
		r                         keys.Record
		expires, revoked, rotated pgtype.Timestamptz
	)
	err := scan(&r.ID, &r.Tenant, &r.Name, &r.Roles, &r.Models, &r.CreatedAt, &expires, &revoked, &rotated, &r.RotatedFrom)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, policies.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	r.ExpiresAt, r.RevokedAt, r.LastRotated = fromNull(expires), fromNull(revoked), fromNull(rotated)
	if len(r.Roles) == 0 {
		r.Roles = nil
	}
	if len(r.Models) == 0 {
		r.Models = nil
	}
	return r, nil
}

// list stores nil as an empty array.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func null(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func fromNull(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
