// Package redisqueue is the ingest.Queue over Redis Streams with a consumer
// group, so that worker processes (ragway serve --role worker) scale apart
// from the gateway.
//
// Enqueue is XADD (acknowledged by Redis before it returns; durable as the
// server's persistence settings make it). Consumers read new entries with
// XREADGROUP ... BLOCK, renew their claim while a handler runs (XCLAIM to
// themselves, which resets the entry's idle time), and on success XACK and
// XDEL the entry. An entry left pending by a consumer that died is taken
// over by another with XAUTOCLAIM once it has been idle for the lease. A
// failed entry stays pending, its idle time set so that it is reclaimed
// after an exponential backoff capped at the lease.
package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ragway/ragway/ingest"
	"github.com/ragway/ragway/ingest/consumers"
)

var _ ingest.Queue = (*Queue)(nil)

// ErrClosed is returned by a Queue used after Close.
var ErrClosed = consumers.ErrClosed

// Config configures the queue.
type Config struct {
	// Prefix starts the stream's key: the stream is Prefix+"jobs".
	Prefix string `yaml:"prefix"`
	// Group is the consumer group shared by all workers.
	Group string `yaml:"group"`
	// Consumer names this process in the group; default host-pid-random.
	Consumer string `yaml:"consumer"`
	// Lease is how long an entry stays with a consumer that stopped renewing
	// it before another consumer takes it.
	Lease time.Duration `yaml:"lease"`
	// Block bounds each blocking read, and so how long Consume takes to
	// notice its context ended.
	Block time.Duration `yaml:"block"`
	// Workers is the number of jobs one Consume call handles at a time.
	Workers int `yaml:"workers"`
	// RetryInitial is the wait before a failed job is delivered again; it
	// doubles with every delivery, up to the lease.
	RetryInitial time.Duration `yaml:"retry_initial"`
}

// Default is used for fields left at zero.
var Default = Config{Prefix: "ragway:ingest:", Group: "workers", Lease: 30 * time.Second,
	Block: time.Second, Workers: 2, RetryInitial: time.Second}

// WithDefaults fills zero fields from Default.
func (c Config) WithDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = Default.Prefix
	}
	if c.Group == "" {
		c.Group = Default.Group
	}
	if c.Consumer == "" {
		host, _ := os.Hostname()
		c.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomID())
	}
	if c.Lease == 0 {
		c.Lease = Default.Lease
	}
	if c.Block == 0 {
		c.Block = Default.Block
	}
	if c.Workers == 0 {
		c.Workers = Default.Workers
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = min(Default.RetryInitial, c.Lease)
	}
	return c
}

// Validate reports every problem.
func (c Config) Validate() error {
	var errs []error
	add := func(msg string) { errs = append(errs, errors.New("redis queue: "+msg)) }
	if c.Group == "" || strings.ContainsAny(c.Group, " \r\n") {
		add("group must be a non-empty word")
	}
	if c.Lease < 30*time.Millisecond {
		add("lease must be at least 30ms")
	}
	if c.Block < time.Millisecond || c.Block > time.Minute {
		add("block must be between 1ms and 1m")
	}
	if c.Workers < 1 || c.Workers > 1024 {
		add("workers must be between 1 and 1024")
	}
	if c.RetryInitial <= 0 || c.RetryInitial > c.Lease {
		add("retry_initial must be positive and at most the lease")
	}
	return errors.Join(errs...)
}

// Queue is an ingest.Queue over one Redis stream.
type Queue struct {
	rdb    redis.UniversalClient
	cfg    Config
	stream string

	group *consumers.Group
}

// New returns a Queue over rdb, creating the stream and group if needed.
// Close does not close rdb.
func New(ctx context.Context, rdb redis.UniversalClient, cfg Config) (*Queue, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := &Queue{rdb: rdb, cfg: cfg, stream: cfg.Prefix + "jobs", group: consumers.New()}
	err := rdb.XGroupCreateMkStream(ctx, q.stream, cfg.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("create redis consumer group: %w", err)
	}
	return q, nil
}

// Enqueue implements ingest.Queue with XADD.
func (q *Queue) Enqueue(ctx context.Context, job ingest.Job) error {
	if q.group.Closed() {
		return ErrClosed
	}
	body, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("enqueue job: %w", err)
	}
	if err := q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.stream, Values: []any{"job", body}}).Err(); err != nil {
		return fmt.Errorf("enqueue job: %w", err)
	}
	return nil
}

// Close stops the consumers and waits for them. Entries in flight stay
// pending and are reclaimed after the lease. It is safe to call more than
// once.
func (q *Queue) Close() error {
	q.group.Close()
	return nil
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func logger() *slog.Logger { return slog.Default() }
