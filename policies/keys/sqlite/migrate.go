package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order, each once, each in its own transaction.
// Never edit a released one; append a new one.
var migrations = []string{
	1: `CREATE TABLE IF NOT EXISTS api_keys (
		id           TEXT PRIMARY KEY,
		tenant       TEXT NOT NULL,
		name         TEXT NOT NULL,
		roles        TEXT NOT NULL,
		models       TEXT NOT NULL,
		hash         BLOB NOT NULL,
		hash_alg     TEXT NOT NULL,
		created_at   INTEGER NOT NULL,
		expires_at   INTEGER,
		revoked_at   INTEGER,
		last_rotated INTEGER,
		rotated_from TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant, created_at)`,
}

// migrate applies pending migrations. Each runs in an immediate
// transaction, so processes opening the same file at once apply it once.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS api_keys_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for v := 1; v < len(migrations); v++ {
		if err := s.inTx(ctx, fmt.Sprintf("migrate to version %d", v), func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM api_keys_migrations WHERE version = ?`, v).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO api_keys_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixMicro())
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM api_keys_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return int(v.Int64), nil
}
