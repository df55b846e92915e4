// Package pgvector is a retrieval.Store kept in PostgreSQL with the pgvector
// extension: HNSW indexes for vector search, a tsvector column with a GIN
// index for lexical search, filters over a jsonb column of attributes.
package pgvector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/ragway/ragway/retrieval"
)

var _ retrieval.Store = (*Store)(nil)

// Fusion methods for hybrid search (the embedded store's).
const (
	FusionWeighted = "weighted"
	FusionRRF      = "rrf"
)

// DefaultLexicalWeight is the lexical share of weighted fusion, the same as
// the embedded store's so the two rank alike.
const DefaultLexicalWeight = 0.95

// Limits.
const (
	maxDimensions = 2000 // the largest vector an HNSW index takes
	maxEfSearch   = 1000 // pgvector's bound on hnsw.ef_search
)

// Options tune the store. The zero value gives the defaults.
type Options struct {
	// Schema holds the store's tables; default "ragway". It is created
	// when missing.
	Schema string
	// M and EfConstruction build the HNSW indexes; defaults 16 and 64.
	M, EfConstruction int
	// EfSearch is the HNSW search beam, raised to K when smaller; default 64.
	EfSearch int
	// K1 and B are the BM25 parameters; defaults 1.2 and 0.75, the
	// embedded store's.
	K1, B float64
	// Fusion is FusionWeighted (default) or FusionRRF.
	Fusion string
	// LexicalWeight is the lexical share in weighted fusion, in (0,1).
	LexicalWeight float64
	// HybridDepth is how many results of each list are fused; default 100.
	HybridDepth int
	// MaxConns bounds the pool; default 8.
	MaxConns int
	// AcquireTimeout bounds the wait for a pooled connection; default 5s.
	AcquireTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Schema == "" {
		o.Schema = "ragway"
	}
	if o.M <= 0 {
		o.M = 16
	}
	if o.EfConstruction <= 0 {
		o.EfConstruction = 64
	}
	if o.EfSearch <= 0 {
		o.EfSearch = 64
	}
	o.M = min(o.M, 100)
	o.EfConstruction = min(max(o.EfConstruction, 2*o.M), 1000)
	o.EfSearch = min(o.EfSearch, maxEfSearch)
	if !(o.K1 > 0 && o.K1 <= 10) {
		o.K1 = 1.2
	}
	if !(o.B > 0 && o.B <= 1) {
		o.B = 0.75
	}
	if o.Fusion != FusionRRF {
		o.Fusion = FusionWeighted
	}
	if !(o.LexicalWeight > 0 && o.LexicalWeight < 1) {
		o.LexicalWeight = DefaultLexicalWeight
	}
	if o.HybridDepth <= 0 {
		o.HybridDepth = 100
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
	if o.AcquireTimeout <= 0 {
		o.AcquireTimeout = 5 * time.Second
	}
	return o
}

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	opts    Options
	schema  string
	indexed sync.Map // dimension -> true once its index exists
}

// Open connects to dsn, applies the schema migrations and returns the
// store.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included.
		return nil, errors.New("open pgvector: cannot parse the connection string")
	}
	cfg.MaxConns = int32(opts.MaxConns)
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize() + ", public"
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		return pgxvec.RegisterTypes(ctx, conn)
	}
	// Migrate on a plain connection first: the pool's AfterConnect needs
	// the extension, and the schema must exist before the pool uses it.
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("open pgvector: %w: %w", retrieval.ErrUnavailable, err)
	}
	err = migrate(ctx, conn, opts.Schema)
	_ = conn.Close(context.WithoutCancel(ctx))
	if errors.Is(err, errNoExtension) {
		return nil, fmt.Errorf("open pgvector: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("open pgvector: %w", wrap(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pgvector: %w: %w", retrieval.ErrUnavailable, err)
	}
	return &Store{pool: pool, opts: opts, schema: opts.Schema}, nil
}

// Close releases the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// withTx runs fn in a transaction on a connection acquired within the
// acquire timeout, committing when fn succeeds.
func (s *Store) withTx(ctx context.Context, o pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	actx, cancel := context.WithTimeout(ctx, s.opts.AcquireTimeout)
	conn, err := s.pool.Acquire(actx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: no connection: %w", retrieval.ErrUnavailable, err)
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, o)
	if err != nil {
		return wrap(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return wrap(err)
	}
	return wrap(tx.Commit(ctx))
}

// wrap marks failures to reach the server as retrieval.ErrUnavailable;
// errors the server reports about a statement pass through.
func wrap(err error) error {
	if err == nil || errors.Is(err, retrieval.ErrInvalidQuery) || errors.Is(err, retrieval.ErrUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code[:2] {
		case "08", "53", "57": // connection, resources, operator intervention
			return fmt.Errorf("%w: %w", retrieval.ErrUnavailable, err)
		}
		return err
	}
	return fmt.Errorf("%w: %w", retrieval.ErrUnavailable, err)
}

// Pool is the store's connection pool, for tests and tools that inspect
// the database.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Analyze refreshes the planner's statistics of the store's tables, for
// use after a bulk load: until autovacuum does it, fresh tables have none
// and lexical queries may get slow plans. It also vacuums postings, which
// marks its pages all-visible so lexical queries read the postings from
// the index alone.
func (s *Store) Analyze(ctx context.Context) error {
	err := s.withTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `ANALYZE collections, chunks`)
		return err
	})
	if err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	// VACUUM cannot run in a transaction block.
	actx, cancel := context.WithTimeout(ctx, s.opts.AcquireTimeout)
	conn, err := s.pool.Acquire(actx)
	cancel()
	if err != nil {
		return fmt.Errorf("analyze: %w: no connection: %w", retrieval.ErrUnavailable, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) postings`); err != nil {
		return fmt.Errorf("analyze: %w", wrap(err))
	}
	return nil
}
