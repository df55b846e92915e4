package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	rstore "github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/pgvector"
)

// benchPgvector is a pgvector store in a schema of its own that Close
// drops, so a benchmark leaves the database as it found it.
type benchPgvector struct {
	*pgvector.Store
	schema string
}

func openBenchPgvector(ctx context.Context, dsn string) (rstore.Store, error) {
	schema := fmt.Sprintf("ragway_bench_%d_%d", os.Getpid(), time.Now().UnixNano())
	s, err := pgvector.Open(ctx, dsn, pgvector.Options{Schema: schema})
	if err != nil {
		return nil, err
	}
	return &benchPgvector{Store: s, schema: schema}, nil
}

func (b *benchPgvector) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := b.Pool().Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{b.schema}.Sanitize()+" CASCADE")
	cerr := b.Store.Close()
	if err != nil {
		return fmt.Errorf("drop bench schema: %w", err)
	}
	return cerr
}
