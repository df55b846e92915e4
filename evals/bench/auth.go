package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ragway/ragway/policies/limits"
)

// MaxAuthAddedP99 is the speed goal of API-key auth with limits kept in
// process: what it adds to the p99 of the gateway's own time per request
// (its X-Ragway-Overhead-Ms header) at concurrency 1 over the same gateway
// with auth off. The end-to-end p99 is printed beside it, but on a shared
// virtual machine two identical runs of it differ by more than this goal.
const MaxAuthAddedP99 = 20 * time.Microsecond

// AuthRow is one gateway of the auth and limits phase.
type AuthRow struct {
	Name    string  `json:"name"`
	Latency Summary `json:"latency_c1"`
	// AddedP50 and AddedP99 compare with the gateway with auth off.
	AddedP50 time.Duration `json:"added_p50_ns"`
	AddedP99 time.Duration `json:"added_p99_ns"`
	// Own is the gateway's own time per request, from its
	// X-Ragway-Overhead-Ms header: the client's latency without the network
	// and the upstream. AddedOwnP50 and AddedOwnP99 compare it with the
	// gateway with auth off.
	Own         Summary       `json:"own_time"`
	AddedOwnP50 time.Duration `json:"added_own_p50_ns"`
	AddedOwnP99 time.Duration `json:"added_own_p99_ns"`
	// OwnP99Turns is the p99 of the own time in each turn, in order.
	OwnP99Turns []time.Duration `json:"own_p99_per_turn_ns,omitempty"`
	// FaultsTurns is the number of minor page faults the gateway's process
	// took in each turn, in order; nil when they cannot be read. A process
	// that faults in fresh memory pays several microseconds a fault, and a
	// young one can fault on every request while its heap grows.
	FaultsTurns []int64 `json:"minor_faults_per_turn,omitempty"`
	// PairedOwnP99 is the median, over the rounds, of this row's own p99
	// in a turn minus auth off's in the turn next to it: the same
	// comparison with each pair measured a moment apart, so a slow spell
	// of the machine falls on both sides of a pair. It is printed beside
	// AddedOwnP99, which the target judges.
	PairedOwnP99 time.Duration `json:"paired_added_own_p99_ns"`
	Errors       int64         `json:"errors"`
}

// AuthLimits is what API-key auth and rate limits add per request at
// concurrency 1.
type AuthLimits struct {
	// Requests per gateway, interleaved in blocks.
	Requests int `json:"requests"`
	// Off is the main gateway, auth off.
	Off AuthRow `json:"auth_off"`
	// Embedded has API-key auth and limits in process memory.
	Embedded AuthRow `json:"embedded"`
	// Shared has API-key auth and limits in Redis; nil when skipped.
	Shared *AuthRow `json:"shared,omitempty"`
	// SharedSkipped says why Shared is nil.
	SharedSkipped string `json:"shared_skipped,omitempty"`
	RedisAddr     string `json:"redis_addr,omitempty"`
	// RedisPing is the latency of a Redis PING sent by the bench process,
	// one round trip, measured in the same blocks.
	RedisPing Summary `json:"redis_ping"`
	// SharedRoundTrips is Shared.AddedP99 over RedisPing.P50.
	SharedRoundTrips float64 `json:"shared_added_p99_in_round_trips"`
	// SharedStore is the shared gateway's own timing of its Redis calls on
	// the request path, from its metrics, over the measured requests.
	SharedStore StoreCalls `json:"shared_store_calls"`
	// SharedAddedInGatewayTrips is Shared.AddedP50 over SharedStore.P50:
	// the added latency in round trips as the gateway itself sees them.
	SharedAddedInGatewayTrips float64 `json:"shared_added_p50_in_gateway_round_trips"`
	// EmbeddedPass says whether Embedded.AddedOwnP99 ≤ MaxAuthAddedP99.
	EmbeddedPass bool `json:"embedded_pass"`
}

// evaluate fills the derived figures.
func (a *AuthLimits) evaluate() {
	for _, row := range []*AuthRow{&a.Embedded, a.Shared} {
		if row == nil {
			continue
		}
		row.AddedP50 = row.Latency.P50 - a.Off.Latency.P50
		row.AddedP99 = row.Latency.P99 - a.Off.Latency.P99
		row.AddedOwnP50 = row.Own.P50 - a.Off.Own.P50
		row.AddedOwnP99 = row.Own.P99 - a.Off.Own.P99
		row.PairedOwnP99 = pairedMedian(row.OwnP99Turns, a.Off.OwnP99Turns)
	}
	a.EmbeddedPass = a.Embedded.Own.N > 0 && a.Off.Own.N > 0 && a.Embedded.AddedOwnP99 <= MaxAuthAddedP99
	a.SharedRoundTrips = 0
	if a.Shared != nil {
		a.SharedRoundTrips = ratioD(a.Shared.AddedP99, a.RedisPing.P50)
		a.SharedAddedInGatewayTrips = ratioD(a.Shared.AddedP50, a.SharedStore.P50)
	}
}

// pairedMedian returns the median of a[k]-b[k] over the rounds both have
// (the lower middle one for an even count), 0 for none.
func pairedMedian(a, b []time.Duration) time.Duration {
	n := min(len(a), len(b))
	if n == 0 {
		return 0
	}
	d := make([]time.Duration, n)
	for k := range n {
		d[k] = a[k] - b[k]
	}
	slices.Sort(d)
	return d[(n-1)/2]
}

// turnP99 returns the p99 of the samples a turn appended to all after
// index from, without reordering all.
func turnP99(all []time.Duration, from int) time.Duration {
	turn := slices.Clone(all[from:])
	slices.Sort(turn)
	return Percentile(turn, 99)
}

// Row names of the auth and limits phase.
const (
	authOffName      = "auth off"
	authEmbeddedName = "API key + memory limits (embedded)"
	authSharedName   = "API key + Redis limits (shared)"
)

// NoRedis is why the shared row is skipped without a Redis address.
const NoRedis = "no Redis address (pass --redis ADDR or set RAGWAY_TEST_REDIS_ADDR)"

// authGateways are the gateways of the auth and limits phase, their
// endpoints and the Redis client that measures a round trip.
type authGateways struct {
	gws    []Gateway
	chat   []*endpoint // auth off, embedded, shared when present
	of     []Gateway   // the gateway behind each of chat
	client *redis.Client
	// sharedURL is the shared gateway's, whose metrics time its Redis calls.
	sharedURL string
}

func (ag *authGateways) close() error {
	var errs []error
	for _, e := range ag.chat {
		closeIdle(e)
	}
	for _, gw := range ag.gws {
		errs = append(errs, gw.Close())
	}
	if ag.client != nil {
		errs = append(errs, ag.client.Close())
	}
	return errors.Join(errs...)
}

// authEndpoint is gatewayEndpoint with a prompt no earlier request sent,
// on every gateway of the phase alike: the tokens-per-minute rule then
// counts each prompt afresh, as it would in real traffic, instead of
// finding the count in its cache.
func authEndpoint(ctx context.Context, o Options, name string, gw Gateway) (*endpoint, error) {
	e, err := gatewayEndpoint(ctx, o, name, gw)
	if err != nil {
		return nil, err
	}
	if err := e.freshPrompts(); err != nil {
		return nil, err
	}
	return e, nil
}

// startAuth launches the embedded gateway and, when redisAddr is set, the
// shared one, next to off (the main gateway).
func (r *Runner) startAuth(ctx context.Context, o Options, upstreamURL string, off Gateway) (*authGateways, error) {
	ag := &authGateways{}
	e, err := authEndpoint(ctx, o, authOffName, off)
	if err != nil {
		return nil, err
	}
	ag.chat, ag.of = append(ag.chat, e), append(ag.of, off)
	setups := []Setup{{UpstreamURL: upstreamURL, Limits: limits.StoreMemory}}
	names := []string{authEmbeddedName}
	if r.RedisAddr != "" {
		ag.client = redis.NewClient(&redis.Options{Addr: r.RedisAddr, PoolSize: 1, MinIdleConns: 1,
			DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
		if err := ag.client.Ping(ctx).Err(); err != nil {
			_ = ag.close()
			return nil, fmt.Errorf("redis %s: ping: %w", r.RedisAddr, err)
		}
		prefix := fmt.Sprintf("ragway:bench:%d:%d:", os.Getpid(), time.Now().UnixNano())
		setups = append(setups, Setup{UpstreamURL: upstreamURL, Limits: limits.StoreRedis, RedisAddr: r.RedisAddr,
			RedisPrefix: prefix})
		names = append(names, authSharedName)
	}
	for i, s := range setups {
		gw, err := r.Launcher.Launch(ctx, s)
		if err != nil {
			_ = ag.close()
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
		ag.gws = append(ag.gws, gw)
		if s.Limits == limits.StoreRedis {
			ag.sharedURL = gw.URL()
		}
		e, err := authEndpoint(ctx, o, names[i], gw)
		if err != nil {
			_ = ag.close()
			return nil, err
		}
		ag.chat, ag.of = append(ag.chat, e), append(ag.of, gw)
	}
	return ag, nil
}

// authPhase measures the main gateway (auth off) and gateways with API-key
// auth and limits at concurrency 1, in turns, with a Redis PING block
// after each turn when Redis is in use.
func (r *Runner) authPhase(ctx context.Context, o Options, p progress, upstreamURL string, off Gateway) (*AuthLimits, error) {
	stop := p.track("starting the auth gateways", 0, time.Second, nil)
	ag, err := r.startAuth(ctx, o, upstreamURL, off)
	stop()
	if err != nil {
		return nil, fmt.Errorf("auth and limits: %w", err)
	}
	res, err := runAuth(ctx, o, p, ag)
	if cerr := ag.close(); err == nil && cerr != nil {
		err = fmt.Errorf("auth and limits: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	if ag.client == nil {
		res.SharedSkipped = NoRedis
	} else {
		res.RedisAddr = r.RedisAddr
	}
	return res, nil
}

func runAuth(ctx context.Context, o Options, p progress, ag *authGateways) (*AuthLimits, error) {
	fresh := ag.chat
	warm := int64(o.Warmup) * int64(len(fresh))
	if ag.client != nil {
		warm += int64(o.Warmup)
	}
	err := phase(p, "warm-up of the auth gateways", warm, 0, func(done *atomic.Int64) error {
		for _, e := range fresh {
			run := newLatencyRun(0, false)
			if err := run.sequential(ctx, e, o.Warmup, done); err != nil {
				return err
			}
			if err := run.check(); err != nil {
				return err
			}
		}
		if ag.client == nil {
			return nil
		}
		return newPingRun(0).sequential(ctx, ag.client, o.Warmup, done)
	})
	if err != nil {
		return nil, err
	}
	lat := make([]*latencyRun, len(ag.chat))
	turnsP99 := make([][]time.Duration, len(ag.chat))
	faults := newTurnFaults(ag.of)
	for i := range lat {
		lat[i] = newLatencyRun(o.Requests, true)
	}
	pings := newPingRun(o.Requests)
	var before storeSnapshot
	if ag.sharedURL != "" {
		if before, err = scrapeStoreCalls(ctx, ag.sharedURL); err != nil {
			return nil, err
		}
	}
	total := int64(o.Requests) * int64(len(ag.chat))
	if ag.client != nil {
		total += int64(o.Requests)
	}
	err = phase(p, "auth and limits c=1, gateways in turns", total, 0, func(done *atomic.Int64) error {
		for sent := 0; sent < o.Requests; sent += latencyBlock {
			n := min(latencyBlock, o.Requests-sent)
			for i, e := range ag.chat {
				from := len(lat[i].overhead)
				faults.start(i)
				if err := lat[i].sequential(ctx, e, n, done); err != nil {
					return err
				}
				faults.end(i)
				if len(lat[i].overhead) > from {
					turnsP99[i] = append(turnsP99[i], turnP99(lat[i].overhead, from))
				}
			}
			if ag.client != nil {
				if err := pings.sequential(ctx, ag.client, n, done); err != nil {
					return err
				}
			}
		}
		var errs []error
		for _, l := range lat {
			errs = append(errs, l.check())
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return nil, err
	}
	rows := make([]AuthRow, len(ag.chat))
	for i, e := range ag.chat {
		rows[i] = AuthRow{Name: e.name, Latency: Summarize(lat[i].samples), Own: Summarize(lat[i].overhead),
			OwnP99Turns: turnsP99[i], FaultsTurns: faults.turns[i], Errors: lat[i].errors}
	}
	res := &AuthLimits{Requests: o.Requests, Off: rows[0], Embedded: rows[1]}
	if len(rows) > 2 {
		res.Shared = &rows[2]
		res.RedisPing = Summarize(pings.samples)
		after, err := scrapeStoreCalls(ctx, ag.sharedURL)
		if err != nil {
			return nil, err
		}
		res.SharedStore = storeCallsBetween(before, after, o.Requests)
	}
	return res, nil
}

// turnFaults counts each gateway's minor page faults turn by turn. A
// gateway whose count cannot be read gets none, and the run goes on.
type turnFaults struct {
	of     []Gateway
	before []int64
	turns  [][]int64
	failed []bool
}

func newTurnFaults(of []Gateway) *turnFaults {
	return &turnFaults{of: of, before: make([]int64, len(of)), turns: make([][]int64, len(of)),
		failed: make([]bool, len(of))}
}

func (f *turnFaults) read(i int) (int64, bool) {
	if f.failed[i] {
		return 0, false
	}
	n, err := f.of[i].MinorFaults()
	if err != nil {
		f.failed[i], f.turns[i] = true, nil
		return 0, false
	}
	return n, true
}

func (f *turnFaults) start(i int) {
	if n, ok := f.read(i); ok {
		f.before[i] = n
	}
}

func (f *turnFaults) end(i int) {
	if n, ok := f.read(i); ok {
		f.turns[i] = append(f.turns[i], n-f.before[i])
	}
}

// pingRun times Redis PINGs, one round trip each.
type pingRun struct{ samples []time.Duration }

func newPingRun(n int) *pingRun { return &pingRun{samples: make([]time.Duration, 0, n)} }

func (run *pingRun) sequential(ctx context.Context, c *redis.Client, n int, done *atomic.Int64) error {
	for range n {
		start := time.Now()
		err := c.Ping(ctx).Err()
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("redis ping: %w", err)
		}
		done.Add(1)
		if len(run.samples) < cap(run.samples) {
			run.samples = append(run.samples, d)
		}
	}
	return nil
}

// writeTable prints the auth and limits table.
func (a *AuthLimits) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "\nauth and limits at c=1: %d requests per gateway, in turns of %d, every prompt new; added is vs auth off;\n"+
		"own is the gateway's own time per request (X-Ragway-Overhead-Ms), without the network and the upstream\n",
		a.Requests, latencyBlock)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	const nameWidth = 36
	row := func(name string, cells ...string) {
		fmt.Fprintf(tw, "%-*s\t", nameWidth, name)
		for _, c := range cells {
			fmt.Fprint(tw, c, "\t")
		}
		fmt.Fprintln(tw)
	}
	row("gateway", "p50", "p99", "added p50", "added p99", "own p50", "own p99", "own added p99", "errors", "target")
	row(a.Off.Name, us(a.Off.Latency.P50), us(a.Off.Latency.P99), "-", "-", us(a.Off.Own.P50), us(a.Off.Own.P99), "-",
		fmt.Sprint(a.Off.Errors), "")
	e := a.Embedded
	res := "FAIL"
	if a.EmbeddedPass {
		res = "PASS"
	}
	row(e.Name, us(e.Latency.P50), us(e.Latency.P99), signedUS(e.AddedP50), signedUS(e.AddedP99), us(e.Own.P50),
		us(e.Own.P99), signedUS(e.AddedOwnP99), fmt.Sprint(e.Errors),
		fmt.Sprintf("own added p99 ≤ %s: %s", us(MaxAuthAddedP99), res))
	if s := a.Shared; s != nil {
		row(s.Name, us(s.Latency.P50), us(s.Latency.P99), signedUS(s.AddedP50), signedUS(s.AddedP99), us(s.Own.P50),
			us(s.Own.P99), signedUS(s.AddedOwnP99), fmt.Sprint(s.Errors),
			fmt.Sprintf("added p50 = %.2f× its Redis round trip", a.SharedAddedInGatewayTrips))
		row("Redis round trip in the gateway", us(a.SharedStore.P50), "", "", "", "", "", "", "",
			fmt.Sprintf("%.2f per request, mean %s", a.SharedStore.PerRequest, us(a.SharedStore.Mean)))
		row("Redis round trip (PING from bench)", us(a.RedisPing.P50), us(a.RedisPing.P99), "", "", "", "", "", "", "")
	} else {
		row(authSharedName, "skipped", "", "", "", "", "", "", "", "")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintf(w, "own added p99 paired by turn (median over %d rounds of a turn's own p99 minus auth off's in the same round; "+
		"not the target's figure): embedded %s", len(a.Off.OwnP99Turns), signedUS(a.Embedded.PairedOwnP99))
	if a.Shared != nil {
		fmt.Fprintf(w, ", shared %s", signedUS(a.Shared.PairedOwnP99))
	}
	fmt.Fprintln(w)
	writeFaults(w, a.rows())
	if a.Shared == nil {
		fmt.Fprintf(w, "shared row skipped: %s\n", a.SharedSkipped)
	} else {
		fmt.Fprintf(w, "shared: added p50 %s next to the gateway's own Redis round trip p50 %s (%.2f acquire calls per request, timed in the gateway from its ragway_limit_store_seconds); a PING from the bench process to %s takes %s\n",
			signedUS(a.Shared.AddedP50), us(a.SharedStore.P50), a.SharedStore.PerRequest, a.RedisAddr, us(a.RedisPing.P50))
	}
	return nil
}

// rows returns the phase's rows: auth off, embedded, shared when present.
func (a *AuthLimits) rows() []*AuthRow {
	rows := []*AuthRow{&a.Off, &a.Embedded}
	if a.Shared != nil {
		rows = append(rows, a.Shared)
	}
	return rows
}

// writeFaults prints each gateway's minor page faults in its first measured
// turn and the median over the turns after, when they were counted.
func writeFaults(w io.Writer, rows []*AuthRow) {
	var parts []string
	for _, r := range rows {
		if len(r.FaultsTurns) == 0 {
			continue
		}
		p := fmt.Sprintf("%s %d", r.Name, r.FaultsTurns[0])
		if rest := slices.Clone(r.FaultsTurns[1:]); len(rest) > 0 {
			slices.Sort(rest)
			p += fmt.Sprintf(" / %d", rest[(len(rest)-1)/2])
		}
		parts = append(parts, p)
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "minor page faults of the gateway process, first measured turn / median of the turns after: %s\n",
			strings.Join(parts, ", "))
	}
}
