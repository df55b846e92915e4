package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/ragway/ragway/embed/embedders"
	"github.com/ragway/ragway/ingest/queue"
	"github.com/ragway/ragway/ingest/redisqueue"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval/stores"
)

// Ingest configures document ingestion: uploads, the catalogue of files
// and vector stores, the pipeline's queue, and the embedder that indexes.
type Ingest struct {
	// MaxFileBytes bounds one uploaded file; POST /v1/files accepts a body
	// this size plus 1 MiB of form overhead. Default 32 MiB.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// Database holds the catalogue: "sqlite" (default, ingest.db in the
	// data dir) or "postgres" (the DSN in the environment variable
	// PostgresDSNEnv).
	Database       string     `yaml:"database"`
	PostgresDSNEnv string     `yaml:"postgres_dsn_env"`
	PostgresDSN    llm.Secret `yaml:"-"`
	// LoadTimeout bounds parsing one file. Default 60s.
	LoadTimeout time.Duration `yaml:"load_timeout"`
	// EmbedBatch is the number of chunks embedded per call. Default 64.
	EmbedBatch int `yaml:"embed_batch"`
	// Attempts, Backoff and MaxBackoff retry embedder and store failures
	// before a file is marked failed. Defaults 4, 250ms, 5s.
	Attempts   int           `yaml:"attempts"`
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Embedder builds the vectors (default: the built-in lexical one).
	Embedder embedders.Config `yaml:"embedder"`
	// Queue is the embedded durable queue (in the data dir by default).
	Queue queue.Config `yaml:"queue"`
	// Redis, when its addr is set, carries jobs on Redis Streams instead,
	// so worker processes scale apart from gateway ones.
	Redis IngestRedis `yaml:"redis"`
	// Retrieval chooses and tunes the vector store.
	Retrieval stores.Config `yaml:"retrieval"`
}

// IngestRedis addresses the Redis of the job queue.
type IngestRedis struct {
	Addr string `yaml:"addr"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string     `yaml:"password_env"`
	Password    llm.Secret `yaml:"-"`
	DB          int        `yaml:"db"`
	// Queue tunes the stream, consumer group and workers.
	Queue redisqueue.Config `yaml:"queue"`
}

// Ingest catalogue databases.
const (
	IngestSQLite   = "sqlite"
	IngestPostgres = "postgres"
)

// WithDefaults fills zero fields.
func (c Ingest) WithDefaults() Ingest {
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = 32 << 20
	}
	if c.Database == "" {
		c.Database = IngestSQLite
	}
	if c.LoadTimeout == 0 {
		c.LoadTimeout = 60 * time.Second
	}
	if c.EmbedBatch == 0 {
		c.EmbedBatch = 64
	}
	if c.Attempts == 0 {
		c.Attempts = 4
	}
	if c.Backoff == 0 {
		c.Backoff = 250 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(5*time.Second, c.Backoff)
	}
	c.Embedder = c.Embedder.WithDefaults()
	return c
}

// Validate reports every problem, each prefixed with "ingest".
func (c Ingest) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("ingest: "+format, args...)) }
	if c.MaxFileBytes < 1 || c.MaxFileBytes > 1<<30 {
		add("max_file_bytes must be between 1 and 1 GiB")
	}
	switch c.Database {
	case IngestSQLite:
	case IngestPostgres:
		if c.PostgresDSNEnv == "" {
			add("database postgres needs postgres_dsn_env")
		}
	default:
		add("database must be sqlite or postgres, not %q", c.Database)
	}
	if c.LoadTimeout < 0 || c.Backoff < 0 || c.MaxBackoff < c.Backoff {
		add("load_timeout and backoff must not be negative, and max_backoff at least backoff")
	}
	if c.EmbedBatch < 1 || c.EmbedBatch > 4096 {
		add("embed_batch must be between 1 and 4096")
	}
	if c.Attempts < 1 || c.Attempts > 20 {
		add("attempts must be between 1 and 20")
	}
	if err := c.Embedder.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("ingest: %w", err))
	}
	if c.Redis.Addr != "" {
		if err := c.Redis.Queue.WithDefaults().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("ingest.redis: %w", err))
		}
		if c.Redis.DB < 0 || c.Redis.DB > 15 {
			add("redis.db must be between 0 and 15")
		}
	} else {
		// The queue's path comes from the data dir at wiring time.
		q := c.Queue
		if q.Path == "" && q.Dir == "" {
			q.Dir = "."
		}
		if err := q.WithDefaults().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("ingest: %w", err))
		}
	}
	if err := c.Retrieval.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("ingest: %w", err))
	}
	return errors.Join(errs...)
}
