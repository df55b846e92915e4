package queue

import (
	"errors"
	"path/filepath"
	"strings"
	"time"
)

// DefaultFile is the queue's file name in a data directory.
const DefaultFile = "ingest-queue.db"

// Config is the embedded queue's configuration.
type Config struct {
	// Path is the SQLite file. When empty it is DefaultFile in Dir.
	Path string `yaml:"path"`
	// Dir is the data directory, used when Path is empty.
	Dir string `yaml:"dir"`
	// Lease is how long a consumer holds a job before another may take it.
	// A live consumer renews the lease while its handler runs, so it only
	// expires when the consumer died or stopped.
	Lease time.Duration `yaml:"lease"`
	// PollInterval is how often idle consumers look for jobs enqueued by
	// other processes or whose lease or backoff ran out; jobs enqueued in
	// this process wake them at once.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Workers is the number of jobs one Consume call handles at a time.
	Workers int `yaml:"workers"`
	// RetryInitial is the wait before a failed job is delivered again; each
	// later failure doubles it up to RetryMax.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// Dedupe makes Enqueue a no-op for a job whose ID is already waiting
	// (not yet taken by a consumer).
	Dedupe bool `yaml:"dedupe"`
}

// Default is used for fields left at zero.
var Default = Config{
	Lease:        30 * time.Second,
	PollInterval: 250 * time.Millisecond,
	Workers:      2,
	RetryInitial: time.Second,
	RetryMax:     5 * time.Minute,
}

// WithDefaults fills zero fields from Default and Path from Dir.
func (c Config) WithDefaults() Config {
	if c.Path == "" && c.Dir != "" {
		c.Path = filepath.Join(c.Dir, DefaultFile)
	}
	if c.Lease == 0 {
		c.Lease = Default.Lease
	}
	if c.PollInterval == 0 {
		c.PollInterval = Default.PollInterval
	}
	if c.Workers == 0 {
		c.Workers = Default.Workers
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = Default.RetryInitial
	}
	if c.RetryMax == 0 {
		c.RetryMax = max(Default.RetryMax, c.RetryInitial)
	}
	return c
}

// Validate reports every problem.
func (c Config) Validate() error {
	var errs []error
	add := func(msg string) { errs = append(errs, errors.New("queue: "+msg)) }
	if c.Path == "" {
		add("path or dir is required")
	} else if strings.ContainsAny(c.Path, "?#") {
		add("path must not contain ? or #")
	}
	if c.Lease < 30*time.Millisecond {
		add("lease must be at least 30ms")
	}
	if c.PollInterval <= 0 || c.PollInterval > time.Minute {
		add("poll_interval must be between 1ns and 1m")
	}
	if c.Workers < 1 || c.Workers > 1024 {
		add("workers must be between 1 and 1024")
	}
	if c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		add("retry_initial must be positive and at most retry_max")
	}
	return errors.Join(errs...)
}

// backoff is the wait after the attempts-th failed delivery.
func (c Config) backoff(attempts int) time.Duration {
	d := c.RetryInitial
	for i := 1; i < attempts && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}
