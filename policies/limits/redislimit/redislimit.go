// Package redislimit is the shared limits.Limiter: every limit's state lives
// in Redis and each Acquire and Release is one atomic Lua script, so any
// number of replicas together admit no more than the limits. It needs one
// Redis (or a primary behind Sentinel); Redis Cluster is not supported since
// the keys of one request may live in different slots.
//
// Releases are deferred: a release is queued and sent in the same pipeline
// as the limiter's next Acquire, before it, or after ReleaseDelay when no
// Acquire comes first. A steady stream of requests then costs one round
// trip each instead of two; another replica sees a release at most
// ReleaseDelay (plus a round trip) late, which only ever makes it stricter.
package redislimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ragway/ragway/policies/limits"
)

var (
	_ limits.Limiter  = (*Limiter)(nil)
	_ limits.Reloader = (*Limiter)(nil)
)

// Limiter meters requests against Redis.
type Limiter struct {
	client     redis.UniversalClient
	shared     *sharedClient
	plan       *limits.Plan
	prefix     string
	failClosed bool
	leaseTTL   time.Duration
	opts       limits.Options
	// useClock passes opts.Now to the scripts; otherwise they use Redis
	// TIME, one clock for every replica.
	useClock bool
	leasePfx string
	leaseSeq atomic.Uint64
	closed   atomic.Bool

	// mu guards pending, the releases not yet sent, and timer, armed while
	// there are some; flushes counts timer flushes in progress.
	mu      sync.Mutex
	pending []scriptCall
	timer   *time.Timer
	flushes sync.WaitGroup
	// releaseDelay is ReleaseDelay; tests that need a release to ride the
	// next Acquire lengthen it.
	releaseDelay time.Duration
	// loaded is set once both scripts are known to be in Redis's cache, so
	// a pipeline can call them by hash.
	loaded atomic.Bool
}

// ReleaseDelay is how long a release may wait for an Acquire to carry it
// before it is sent on its own.
const ReleaseDelay = 2 * time.Millisecond

// scriptCall is one release waiting to be sent.
type scriptCall struct {
	keys []string
	args []any
}

// sharedClient counts the limiters (a limiter and its reloads) using one
// client; the last Close closes it.
type sharedClient struct {
	refs  atomic.Int64
	owned bool
}

// New connects to cfg.Redis (defaults applied, validated). It does not
// contact Redis: an unreachable Redis shows on the first Acquire.
func New(cfg limits.Config, opts limits.Options) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis limiter: %w", err)
	}
	rc := cfg.Redis
	client := redis.NewClient(&redis.Options{
		Addr: rc.Addr, Password: rc.Password.Reveal(), DB: rc.DB,
		DialTimeout: rc.DialTimeout, ReadTimeout: rc.ReadTimeout, WriteTimeout: rc.WriteTimeout,
		PoolSize: rc.PoolSize,
		// A retried script could be applied twice; a failure goes to
		// on_redis_error instead.
		MaxRetries: -1,
		// Fail fast when Redis is down: on_redis_error decides, not retries.
		DialerRetries: 1,
	})
	return newLimiter(client, &sharedClient{owned: true}, cfg, opts), nil
}

// NewWithClient uses an existing client, which Close leaves open.
func NewWithClient(client redis.UniversalClient, cfg limits.Config, opts limits.Options) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis limiter: %w", err)
	}
	return newLimiter(client, &sharedClient{}, cfg, opts), nil
}

func newLimiter(client redis.UniversalClient, shared *sharedClient, cfg limits.Config, opts limits.Options) *Limiter {
	shared.refs.Add(1)
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Limiter{
		client: client, shared: shared, plan: limits.NewPlan(cfg), prefix: cfg.Redis.KeyPrefix,
		failClosed: cfg.OnRedisError == limits.FailClosed, leaseTTL: cfg.LeaseTTL,
		useClock: opts.Now != nil, opts: opts.WithDefaults(), leasePfx: hex.EncodeToString(id[:]) + ":",
		releaseDelay: ReleaseDelay,
	}
}

// Reload returns a limiter for cfg on the same connection. State lives in
// Redis, so it survives; cfg.Redis is ignored (a changed address needs a
// new limiter from New).
func (l *Limiter) Reload(cfg limits.Config) (limits.Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis limiter: %w", err)
	}
	cfg.Redis.KeyPrefix = l.prefix
	opts := l.opts
	if !l.useClock {
		opts.Now = nil
	}
	return newLimiter(l.client, l.shared, cfg, opts), nil
}

// Close closes the connection once every limiter sharing it is closed.
func (l *Limiter) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	l.mu.Lock()
	l.stopTimer()
	l.mu.Unlock()
	l.flushes.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	l.flush(ctx)
	cancel()
	if l.shared.refs.Add(-1) == 0 && l.shared.owned {
		if err := l.client.Close(); err != nil {
			return fmt.Errorf("close redis limiter: %w", err)
		}
	}
	return nil
}

func (l *Limiter) nowArg(now time.Time) int64 {
	if l.useClock {
		return max(int64(limits.Micros(now)), 1)
	}
	return 0
}

// Acquire runs every applicable check in one script.
func (l *Limiter) Acquire(ctx context.Context, req limits.Request) (*limits.Lease, error) {
	now := l.opts.Now()
	checks, reserve := l.plan.Checks(nil, req, now)
	if len(checks) == 0 {
		return limits.NewLease(limits.Status{}, int(reserve), nil), nil
	}
	leaseID := l.leasePfx + strconv.FormatUint(l.leaseSeq.Add(1), 36)
	keys := make([]string, len(checks))
	args := make([]any, 0, 3+5*len(checks))
	args = append(args, l.nowArg(now), leaseID, l.leaseTTL.Microseconds())
	for i := range checks {
		c := &checks[i]
		keys[i] = l.prefix + c.Key
		args = append(args, kindCode(c.Kind), c.Limit, c.Interval, c.Cost, int64(limits.Micros(c.PeriodEnd)))
	}
	start := time.Now()
	res, err := l.acquire(ctx, keys, args)
	l.opts.OnStoreCall("acquire", time.Since(start))
	if err != nil {
		return l.storeFailed(ctx, "acquire", err)
	}
	if len(res) < 3 {
		return l.storeFailed(ctx, "acquire", fmt.Errorf("unexpected reply of %d values", len(res)))
	}
	if res[0] == 0 {
		i := int(res[1]) - 1
		if i < 0 || i >= len(checks) {
			return l.storeFailed(ctx, "acquire", fmt.Errorf("unexpected check index %d", i))
		}
		return nil, limits.Reject(&checks[i], time.Duration(res[2])*time.Microsecond)
	}
	if len(res) != 1+2*len(checks) {
		return l.storeFailed(ctx, "acquire", fmt.Errorf("unexpected reply of %d values", len(res)))
	}
	var st limits.Status
	for i := range checks {
		st.Observe(&checks[i], res[1+2*i], time.Duration(res[2+2*i])*time.Microsecond)
	}
	return limits.NewLease(st, int(reserve), func(ctx context.Context, diff int64, free bool) error {
		return l.settle(ctx, leaseID, checks, diff, free)
	}), nil
}

// acquire runs the acquire script, preceded in one pipeline by the
// releases waiting to be sent.
func (l *Limiter) acquire(ctx context.Context, keys []string, args []any) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pending := l.takePending()
	if len(pending) == 0 {
		return acquireScript.Run(ctx, l.client, keys, args...).Int64Slice()
	}
	// The releases must not be lost with a caller who leaves: the pipeline
	// is bounded by the client's read and write timeouts instead.
	ctx = context.WithoutCancel(ctx)
	if !l.scriptsLoaded(ctx) {
		l.send(ctx, pending)
		return acquireScript.Run(ctx, l.client, keys, args...).Int64Slice()
	}
	pipe := l.client.Pipeline()
	rels := queueReleases(ctx, pipe, pending)
	acq := acquireScript.EvalSha(ctx, pipe, keys, args...)
	_, _ = pipe.Exec(ctx) // each command's error is read below
	l.retryReleases(ctx, pending, rels)
	if err := acq.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis lost its script cache (a restart): the script did not run.
		l.loaded.Store(false)
		return acquireScript.Run(ctx, l.client, keys, args...).Int64Slice()
	}
	return acq.Int64Slice()
}

// scriptsLoaded makes sure both scripts are in Redis's cache.
func (l *Limiter) scriptsLoaded(ctx context.Context) bool {
	if l.loaded.Load() {
		return true
	}
	if releaseScript.Load(ctx, l.client).Err() != nil || acquireScript.Load(ctx, l.client).Err() != nil {
		return false
	}
	l.loaded.Store(true)
	return true
}

// retryReleases reruns, one by one, the releases Redis did not know the
// script of (they did not run), and reports the ones that failed.
func (l *Limiter) retryReleases(ctx context.Context, pending []scriptCall, cmds []*redis.Cmd) {
	for i, c := range cmds {
		err := c.Err()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			l.loaded.Store(false)
			err = releaseScript.Run(ctx, l.client, pending[i].keys, pending[i].args...).Err()
		}
		if err != nil {
			_, _ = l.storeFailed(ctx, "release", err)
		}
	}
}

// queueReleases adds pending to pipe, by script hash.
func queueReleases(ctx context.Context, pipe redis.Pipeliner, pending []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(pending))
	for i, p := range pending {
		cmds[i] = releaseScript.EvalSha(ctx, pipe, p.keys, p.args...)
	}
	return cmds
}

// send sends releases in one pipeline, outside an Acquire; any whose
// script Redis does not know yet is rerun on its own.
func (l *Limiter) send(ctx context.Context, pending []scriptCall) {
	if len(pending) == 0 {
		return
	}
	start := time.Now()
	pipe := l.client.Pipeline()
	cmds := queueReleases(ctx, pipe, pending)
	_, _ = pipe.Exec(ctx)
	l.retryReleases(ctx, pending, cmds)
	l.opts.OnStoreCall("release", time.Since(start))
}

// takePending returns the releases waiting to be sent and disarms the
// timer.
func (l *Limiter) takePending() []scriptCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending
	if len(p) == 0 {
		return nil
	}
	l.pending = nil
	l.stopTimer()
	return p
}

// stopTimer disarms the flush timer; l.mu is held.
func (l *Limiter) stopTimer() {
	if l.timer != nil && l.timer.Stop() {
		l.flushes.Done() // it will not run
	}
	l.timer = nil
}

// flush sends what is pending.
func (l *Limiter) flush(ctx context.Context) { l.send(ctx, l.takePending()) }

// timerFlush is the timer's: it sends what no Acquire carried.
func (l *Limiter) timerFlush() {
	defer l.flushes.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l.flush(ctx)
}

// settle queues the reconciliation of a lease: diff tokens charged to its
// token limits and budgets (refunded when negative) and, when free is set,
// its concurrency slots freed.
func (l *Limiter) settle(ctx context.Context, leaseID string, checks []limits.Check, diff int64, free bool) error {
	keys := make([]string, 0, len(checks))
	args := make([]any, 0, 3+2*len(checks))
	args = append(args, l.nowArg(l.opts.Now()), leaseID, diff)
	for i := range checks {
		c := &checks[i]
		if c.Kind == limits.KindRequests || (c.Kind == limits.KindConcurrency && !free) {
			continue
		}
		keys = append(keys, l.prefix+c.Key)
		args = append(args, kindCode(c.Kind), c.Interval)
	}
	if len(keys) == 0 || (diff == 0 && (!free || !hasConcurrency(checks))) {
		return nil
	}
	l.mu.Lock()
	if !l.closed.Load() {
		l.pending = append(l.pending, scriptCall{keys: keys, args: args})
		if l.timer == nil {
			l.flushes.Add(1)
			l.timer = time.AfterFunc(l.releaseDelay, l.timerFlush)
		}
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	// A closed limiter (replaced by a reload) sends at once, bounded in
	// time: callers pass a context without a deadline.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	err := releaseScript.Run(ctx, l.client, keys, args...).Err()
	l.opts.OnStoreCall("release", time.Since(start))
	if err != nil {
		_, err = l.storeFailed(ctx, "release", err)
		return err
	}
	return nil
}

func hasConcurrency(checks []limits.Check) bool {
	for i := range checks {
		if checks[i].Kind == limits.KindConcurrency {
			return true
		}
	}
	return false
}

// storeFailed applies on_redis_error. A cancelled caller is not a store
// failure and is returned as is.
func (l *Limiter) storeFailed(ctx context.Context, op string, err error) (*limits.Lease, error) {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return nil, fmt.Errorf("%s limits: %w", op, ctx.Err())
	}
	l.opts.OnStoreError(op, err)
	level := slog.LevelWarn
	if l.failClosed {
		level = slog.LevelError
	}
	l.opts.Logger.LogAttrs(ctx, level, "redis limiter failed",
		slog.String("op", op), slog.String("error", err.Error()), slog.Bool("fail_closed", l.failClosed))
	if op == "release" {
		return nil, fmt.Errorf("release limits: %w", err)
	}
	if l.failClosed {
		return nil, limits.Unavailable(time.Second)
	}
	return limits.NewLease(limits.Status{}, 0, nil), nil
}

func kindCode(k limits.Kind) string {
	switch k {
	case limits.KindConcurrency:
		return "c"
	case limits.KindBudget:
		return "b"
	default:
		return "g"
	}
}
