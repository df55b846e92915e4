// Package service is Ragway's ingestion service: the catalogue of files,
// vector stores (a tenant's collections) and vector store files in SQL,
// file bytes in the data dir, and the durable, event-driven pipeline that
// loads, chunks, embeds and indexes every file a store is given. Its
// operations mirror OpenAI's Files and Vector Stores API.
package service

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/ragway/ragway/embed"
	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/ingest/chunk"
	"github.com/ragway/ragway/ingest/loaders"
	"github.com/ragway/ragway/retrieval"
)

// LoadFunc parses an uploaded file into a document. Rejected documents are
// *ingest.DocumentError.
type LoadFunc func(ctx context.Context, data []byte, filename string) (*ingest.Document, error)

// SplitFunc cuts a document into pieces with a chunking strategy.
type SplitFunc func(doc *ingest.Document, strategy ChunkingStrategy) ([]Piece, error)

// Options configure a Service. Store, Embedder and Queue are required;
// Load defaults to the loaders (ingest/loaders) under MaxFileBytes and
// LoadTimeout, Split to the chunker (ingest/chunk).
type Options struct {
	// Driver is "sqlite" (default, DSN a file path; DataDir/ingest.db when
	// empty) or "pgx" (DSN a PostgreSQL URL).
	Driver, DSN string
	// DataDir holds file bytes under files/<tenant>/<id>.
	DataDir  string
	Store    retrieval.Store
	Embedder embed.Embedder
	Queue    ingest.Queue
	Load     LoadFunc
	Split    SplitFunc
	// MaxFileBytes bounds one upload (default 32 MiB).
	MaxFileBytes int64
	// LoadTimeout bounds parsing one file (default 60s).
	LoadTimeout time.Duration
	// EmbedBatch is the number of chunks embedded per call (default 64).
	EmbedBatch int
	// Attempts and Backoff retry transient embedder and store failures:
	// Attempts tries in all (default 4), waiting Backoff, then doubling up
	// to MaxBackoff (defaults 250ms and 5s).
	Attempts            int
	Backoff, MaxBackoff time.Duration
	Logger              *slog.Logger
}

func (o *Options) defaults() error {
	if o.Store == nil || o.Embedder == nil || o.Queue == nil {
		return errors.New("ingest service: store, embedder and queue are required")
	}
	if o.Split == nil {
		o.Split = Split
	}
	if o.DataDir == "" {
		return errors.New("ingest service: data dir is required")
	}
	if o.Driver == "" {
		o.Driver = "sqlite"
	}
	if o.Driver == "sqlite" && o.DSN == "" {
		o.DSN = filepath.Join(o.DataDir, "ingest.db")
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 32 << 20
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = 60 * time.Second
	}
	if o.EmbedBatch <= 0 {
		o.EmbedBatch = 64
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = max(5*time.Second, o.Backoff)
	}
	if o.Load == nil {
		lim := loaders.Limits{MaxFileBytes: o.MaxFileBytes, Timeout: o.LoadTimeout}
		o.Load = func(ctx context.Context, data []byte, filename string) (*ingest.Document, error) {
			return loaders.Load(ctx, data, filename, lim)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Service is the ingestion service.
type Service struct {
	opts Options
	db   *sql.DB
	log  *slog.Logger

	// fileLocks serialises the processing of one vector store file in this
	// process.
	mu        sync.Mutex
	fileLocks map[string]*refLock

	// now is the clock, replaced in tests.
	now func() time.Time
}

// Open opens (and creates) the catalogue. The Service does not own Store,
// Embedder or Queue: the caller closes them after Close.
func Open(ctx context.Context, opts Options) (*Service, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	dsn := opts.DSN
	if opts.Driver == "sqlite" {
		dsn = "file:" + dsn + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(FULL)"
	}
	db, err := sql.Open(opts.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open ingest db: %w", err)
	}
	if opts.Driver == "sqlite" {
		db.SetMaxOpenConns(1)
	}
	if err := migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Service{opts: opts, db: db, log: opts.Logger, fileLocks: map[string]*refLock{}, now: time.Now}, nil
}

// Close releases the catalogue.
func (s *Service) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close ingest db: %w", err)
	}
	return nil
}

// Embedder returns the Info of the embedder new vector stores record.
func (s *Service) Embedder() embed.Info { return s.opts.Embedder.Info() }

// MaxFileBytes is the upload limit.
func (s *Service) MaxFileBytes() int64 { return s.opts.MaxFileBytes }

var schema = []string{
	`CREATE TABLE IF NOT EXISTS ingest_files (
		tenant TEXT NOT NULL, id TEXT NOT NULL, filename TEXT NOT NULL, purpose TEXT NOT NULL,
		bytes BIGINT NOT NULL, sha256 TEXT NOT NULL, created_ns BIGINT NOT NULL,
		PRIMARY KEY (tenant, id))`,
	`CREATE TABLE IF NOT EXISTS ingest_vector_stores (
		tenant TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, metadata TEXT NOT NULL,
		chunking TEXT NOT NULL, embedder TEXT NOT NULL, expires_days BIGINT NOT NULL,
		created_ns BIGINT NOT NULL, last_active BIGINT NOT NULL,
		PRIMARY KEY (tenant, id))`,
	`CREATE TABLE IF NOT EXISTS ingest_store_files (
		tenant TEXT NOT NULL, store_id TEXT NOT NULL, file_id TEXT NOT NULL, batch_id TEXT NOT NULL,
		status TEXT NOT NULL, error_code TEXT NOT NULL, error_message TEXT NOT NULL,
		usage_bytes BIGINT NOT NULL, attributes TEXT NOT NULL, chunking TEXT NOT NULL,
		generation BIGINT NOT NULL, created_ns BIGINT NOT NULL,
		PRIMARY KEY (tenant, store_id, file_id))`,
	`CREATE INDEX IF NOT EXISTS ingest_store_files_file ON ingest_store_files (tenant, file_id)`,
	`CREATE INDEX IF NOT EXISTS ingest_store_files_status ON ingest_store_files (status)`,
	`CREATE TABLE IF NOT EXISTS ingest_batches (
		tenant TEXT NOT NULL, id TEXT NOT NULL, store_id TEXT NOT NULL, cancelled BIGINT NOT NULL,
		created_ns BIGINT NOT NULL, PRIMARY KEY (tenant, id))`,
}

func migrate(ctx context.Context, db *sql.DB) error {
	for _, stmt := range schema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create ingest tables: %w", err)
		}
	}
	return nil
}

// newID returns prefix followed by 24 random hex digits.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// lock takes the lock of one vector store file and returns its release.
func (s *Service) lock(tenant, store, file string) func() {
	key := tenant + "\x00" + store + "\x00" + file
	s.mu.Lock()
	l := s.fileLocks[key]
	if l == nil {
		l = &refLock{}
		s.fileLocks[key] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.fileLocks, key)
		}
		s.mu.Unlock()
	}
}

type refLock struct {
	mu   sync.Mutex
	refs int
}

// Split cuts a document with the chunker (ingest/chunk).
func Split(doc *ingest.Document, strategy ChunkingStrategy) ([]Piece, error) {
	parts, err := chunk.Split(doc, strategy)
	if err != nil {
		return nil, fmt.Errorf("chunk: %w", err)
	}
	out := make([]Piece, len(parts))
	for i, p := range parts {
		out[i] = Piece{Text: p.Text, Title: p.Title, Heading: p.Heading, Page: p.Page}
	}
	return out, nil
}
