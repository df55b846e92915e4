package redisqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ragway/ragway/ingest"
)

const writeTimeout = 10 * time.Second

// Consume implements ingest.Queue: Config.Workers goroutines take entries
// (reclaimed ones first, then new ones) and run handle, until ctx is done
// or the queue is closed. It returns nil when ctx ends and ErrClosed when
// the queue was closed, after every handler it started has returned.
func (q *Queue) Consume(ctx context.Context, handle func(context.Context, ingest.Job) error) error {
	return q.group.Run(ctx, q.cfg.Workers, func(ctx context.Context) { q.work(ctx, handle) })
}

func (q *Queue) work(ctx context.Context, handle func(context.Context, ingest.Job) error) {
	// cursor walks the pending list across calls: XAUTOCLAIM looks at a
	// bounded number of entries per call, so always starting at the head
	// would never reach a dead consumer's entry behind live ones.
	cursor := "0-0"
	for ctx.Err() == nil {
		msg, err := q.next(ctx, &cursor)
		if err != nil {
			if ctx.Err() == nil {
				logger().ErrorContext(ctx, "redis queue: read", "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(q.cfg.Block):
				}
			}
			continue
		}
		if msg != nil {
			q.run(ctx, *msg, handle)
		}
	}
}

// next returns an entry whose lease or backoff ran out, else a new entry
// (blocking up to Config.Block), else nil.
func (q *Queue) next(ctx context.Context, cursor *string) (*redis.XMessage, error) {
	msgs, nextCursor, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: q.stream, Group: q.cfg.Group, Consumer: q.cfg.Consumer,
		MinIdle: q.cfg.Lease, Start: *cursor, Count: 1,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reclaim entries: %w", err)
	}
	if nextCursor == "" {
		nextCursor = "0-0"
	}
	*cursor = nextCursor
	if len(msgs) > 0 {
		return &msgs[0], nil
	}
	streams, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: q.cfg.Group, Consumer: q.cfg.Consumer, Streams: []string{q.stream, ">"},
		Count: 1, Block: q.cfg.Block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	for _, s := range streams {
		if len(s.Messages) > 0 {
			return &s.Messages[0], nil
		}
	}
	return nil, nil
}

// run handles one entry with its claim renewed in the background, then
// acknowledges it or schedules its redelivery.
func (q *Queue) run(ctx context.Context, msg redis.XMessage, handle func(context.Context, ingest.Job) error) {
	var job ingest.Job
	raw, _ := msg.Values["job"].(string)
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		// An entry no handler can read is dropped rather than redelivered
		// forever.
		logger().ErrorContext(ctx, "redis queue: undecodable entry dropped", "id", msg.ID, "error", err)
		q.ack(msg.ID)
		return
	}
	hctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		q.renew(hctx, msg.ID)
	}()
	err := safeHandle(hctx, handle, job)
	stop()
	wg.Wait()
	if err == nil {
		q.ack(msg.ID)
		return
	}
	q.retryLater(msg.ID)
}

func safeHandle(ctx context.Context, handle func(context.Context, ingest.Job) error, job ingest.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return handle(ctx, job)
}

// renew resets the entry's idle time every third of the lease, keeping
// other consumers from reclaiming it, until ctx is done. The claim asks for
// a quarter lease of idleness so that an entry another consumer has just
// taken over is not taken back.
func (q *Queue) renew(ctx context.Context, id string) {
	t := time.NewTicker(q.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := q.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
				Stream: q.stream, Group: q.cfg.Group, Consumer: q.cfg.Consumer, MinIdle: q.cfg.Lease / 4, Messages: []string{id},
			}).Err()
			if err != nil && ctx.Err() == nil {
				logger().WarnContext(ctx, "redis queue: renew claim", "id", id, "error", err)
			}
		}
	}
}

// ack acknowledges and deletes an entry.
func (q *Queue) ack(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, q.stream, q.cfg.Group, id)
		p.XDel(ctx, q.stream, id)
		return nil
	})
	if err != nil {
		logger().ErrorContext(ctx, "redis queue: ack", "id", id, "error", err)
	}
}

// retryLater leaves a failed entry pending with its idle time set so that
// XAUTOCLAIM takes it after the backoff of its delivery count.
func (q *Queue) retryLater(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	deliveries := int64(1)
	pend, err := q.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: q.stream, Group: q.cfg.Group, Start: id, End: id, Count: 1,
	}).Result()
	if err == nil && len(pend) == 1 {
		deliveries = max(pend[0].RetryCount, 1)
	}
	wait := q.cfg.RetryInitial
	for i := int64(1); i < deliveries && wait < q.cfg.Lease; i++ {
		wait *= 2
	}
	wait = min(wait, q.cfg.Lease)
	idle := q.cfg.Lease - wait
	err = q.rdb.Do(ctx, "XCLAIM", q.stream, q.cfg.Group, q.cfg.Consumer, 0, id,
		"IDLE", idle.Milliseconds(), "JUSTID").Err()
	if err != nil {
		logger().ErrorContext(ctx, "redis queue: schedule retry", "id", id, "error", err)
	}
}
