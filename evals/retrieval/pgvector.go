package retrieval

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/pgvector"
)

// benchPgvector is a pgvector store in a schema of its own that Close
// drops, so a benchmark leaves the database as it found it.
type benchPgvector struct {
	*pgvector.Store
	schema string
}

// OpenPgvector opens a pgvector store with opts in a new schema of its
// own, dropped again by Close.
func OpenPgvector(ctx context.Context, dsn string, opts pgvector.Options) (retrieval.Store, error) {
	opts.Schema = fmt.Sprintf("ragway_bench_%d_%d", os.Getpid(), time.Now().UnixNano())
	s, err := pgvector.Open(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	return &benchPgvector{Store: s, schema: opts.Schema}, nil
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
