package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrationLock is the advisory lock key held while migrating ("rgwkeys").
const migrationLock int64 = 0x7267776b657973

// migrations are applied in order, each once, each in its own transaction.
// Never edit a released one; append a new one.
var migrations = []string{
	1: `CREATE TABLE IF NOT EXISTS api_keys (
		id           text PRIMARY KEY,
		tenant       text NOT NULL,
		name         text NOT NULL,
		roles        text[] NOT NULL DEFAULT '{}',
		models       text[] NOT NULL DEFAULT '{}',
		hash         bytea NOT NULL,
		hash_alg     text NOT NULL,
		created_at   timestamptz NOT NULL,
		expires_at   timestamptz,
		revoked_at   timestamptz,
		last_rotated timestamptz,
		rotated_from text NOT NULL DEFAULT ''
	);
	CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant, created_at)`,
}

// migrate applies pending migrations while holding a session advisory
// lock, so replicas starting at once wait for each other and each version
// is applied exactly once.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must run even when ctx is done; if it
		// fails, the lock dies with the connection.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // best effort
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS api_keys_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for v := 1; v < len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var applied bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys_migrations WHERE version = $1)`, v).Scan(&applied); err != nil || applied {
				return err
			}
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO api_keys_migrations (version) VALUES ($1)`, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v *int32
	if err := s.pool.QueryRow(ctx, `SELECT max(version) FROM api_keys_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return int(*v), nil
}
