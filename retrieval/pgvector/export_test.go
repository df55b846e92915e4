package pgvector

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// MigrateFirst applies only the first n migrations to schema, to test
// the later ones on a store that already holds data.
func MigrateFirst(ctx context.Context, conn *pgx.Conn, schema string, n int) error {
	return migrateSteps(ctx, conn, schema, migrations[:n])
}
