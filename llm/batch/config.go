package batch

import (
	"errors"
	"time"
)

// Config bounds how concurrent embedding calls are coalesced.
type Config struct {
	// MaxInputs is the most inputs one upstream call carries. 0 means the
	// default; 1 disables batching.
	MaxInputs int `yaml:"max_inputs"`
	// MaxWait is how long the first caller of a batch waits for others.
	MaxWait time.Duration `yaml:"max_wait"`
	// WaitWhenIdle makes even a caller with no upstream call in flight wait
	// MaxWait for company. By default such a caller is sent at once, and
	// only callers arriving while a call runs are batched, so batching adds
	// no latency at low load.
	WaitWhenIdle bool `yaml:"wait_when_idle"`
}

// Default is used for fields left at zero.
var Default = Config{MaxInputs: 64, MaxWait: 2 * time.Millisecond}

// WithDefaults fills zero fields from Default.
func (c Config) WithDefaults() Config {
	if c.MaxInputs == 0 {
		c.MaxInputs = Default.MaxInputs
	}
	if c.MaxWait == 0 {
		c.MaxWait = Default.MaxWait
	}
	return c
}

// Validate reports every problem.
func (c Config) Validate() error {
	var errs []error
	if c.MaxInputs < 0 || c.MaxInputs > 2048 {
		errs = append(errs, errors.New("batch.max_inputs must be between 1 and 2048"))
	}
	if c.MaxWait < 0 || c.MaxWait > time.Second {
		errs = append(errs, errors.New("batch.max_wait must be between 0 and 1s"))
	}
	return errors.Join(errs...)
}
