package milvus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval"
)

var (
	_ retrieval.Store  = (*Store)(nil)
	_ retrieval.Reader = (*Store)(nil)
)

// Fusion methods for hybrid search.
const (
	// FusionRRF ranks by reciprocal rank fusion: the server's hybrid
	// search with its RRF ranker when it has BM25, retrieval.FuseRRF
	// otherwise.
	FusionRRF = "rrf"
	// FusionWeighted runs the lexical and the vector search and combines
	// their scores with retrieval.FuseWeighted, like the embedded store.
	FusionWeighted = "weighted"
)

// Consistency levels (Milvus's names).
const (
	ConsistencyStrong     = "strong"
	ConsistencyBounded    = "bounded"
	ConsistencySession    = "session"
	ConsistencyEventually = "eventually"
)

// DefaultLexicalWeight is the lexical share of weighted fusion, the
// embedded store's.
const DefaultLexicalWeight = 0.95

// Limits.
const (
	maxDimensions = 32768 // Milvus's largest float vector
)

var prefixRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Options connect and tune the store. The zero value of every field but
// Address gives its default.
type Options struct {
	// Address is the server's gRPC address, host:port (default port
	// 19530), or an http(s):// URL.
	Address string
	// Username and Password authenticate with Milvus users; Token (an
	// API key, or "user:password") replaces them when set.
	Username string
	Password llm.Secret
	Token    llm.Secret
	// TLS encrypts the connection (implied by an https:// address).
	TLS bool
	// Database holds the collections; default the server's "default".
	Database string
	// Prefix starts every collection name the store creates; default
	// "ragway". Letters, digits and underscores, at most 64.
	Prefix string
	// M and EfConstruction build the HNSW indexes; defaults 16 and 64.
	M, EfConstruction int
	// Ef is the HNSW search beam, raised to K when smaller; default 64.
	Ef int
	// K1 and B are the BM25 parameters; defaults 1.2 and 0.75.
	K1, B float64
	// Analyzer is the Milvus analyzer type of the text field: "english"
	// (default: stemming and English stop words) or "standard".
	Analyzer string
	// Consistency is the level of every read; default strong, so a
	// search sees every write that returned before it started.
	Consistency string
	// Fusion is FusionRRF (default) or FusionWeighted.
	Fusion string
	// LexicalWeight is the lexical share in weighted fusion, in (0,1).
	LexicalWeight float64
	// HybridDepth is how many results of each list are fused; default 100.
	HybridDepth int
	// RequestTimeout bounds each call to the server; default 30s.
	RequestTimeout time.Duration
	// MaxConcurrency bounds the calls in flight; default 16. A call waits
	// at most AcquireTimeout (default 5s) for a slot, then fails with
	// retrieval.ErrUnavailable.
	MaxConcurrency int
	AcquireTimeout time.Duration
	// ServerVersion skips the version probe at Open when set (for
	// servers that do not report theirs); e.g. "2.5.4".
	ServerVersion string
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = "ragway"
	}
	if o.M <= 0 {
		o.M = 16
	}
	if o.EfConstruction <= 0 {
		o.EfConstruction = 64
	}
	if o.Ef <= 0 {
		o.Ef = 64
	}
	o.M = min(max(o.M, 2), 2048)
	o.EfConstruction = min(max(o.EfConstruction, o.M), 65535)
	o.Ef = min(o.Ef, 65535)
	if !(o.K1 > 0 && o.K1 <= 3) {
		o.K1 = 1.2
	}
	if !(o.B >= 0 && o.B <= 1) || o.B == 0 {
		o.B = 0.75
	}
	if o.Analyzer == "" {
		o.Analyzer = "english"
	}
	if o.Consistency == "" {
		o.Consistency = ConsistencyStrong
	}
	if o.Fusion == "" {
		o.Fusion = FusionRRF
	}
	if !(o.LexicalWeight > 0 && o.LexicalWeight < 1) {
		o.LexicalWeight = DefaultLexicalWeight
	}
	if o.HybridDepth <= 0 {
		o.HybridDepth = 100
	}
	o.HybridDepth = min(o.HybridDepth, retrieval.MaxK)
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = 16
	}
	if o.AcquireTimeout <= 0 {
		o.AcquireTimeout = 5 * time.Second
	}
	return o
}

// Validate reports every problem with the options, defaults applied.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.Address == "" {
		errs = append(errs, errors.New("milvus: address is required"))
	}
	if !prefixRE.MatchString(o.Prefix) {
		errs = append(errs, fmt.Errorf("milvus: prefix %q must be letters, digits and underscores (at most 64), not starting with a digit", o.Prefix))
	}
	if o.Database != "" && !prefixRE.MatchString(o.Database) {
		errs = append(errs, fmt.Errorf("milvus: database %q is not a valid Milvus name", o.Database))
	}
	switch o.Analyzer {
	case "english", "standard":
	default:
		errs = append(errs, fmt.Errorf("milvus: unknown analyzer %q (want english or standard)", o.Analyzer))
	}
	if _, ok := consistencyLevel(o.Consistency); !ok {
		errs = append(errs, fmt.Errorf("milvus: unknown consistency %q", o.Consistency))
	}
	switch o.Fusion {
	case FusionRRF, FusionWeighted:
	default:
		errs = append(errs, fmt.Errorf("milvus: unknown fusion %q", o.Fusion))
	}
	if o.MaxConcurrency > 4096 {
		errs = append(errs, errors.New("milvus: max concurrency must be at most 4096"))
	}
	if o.ServerVersion != "" {
		if _, _, ok := parseVersion(o.ServerVersion); !ok {
			errs = append(errs, fmt.Errorf("milvus: server version %q is not major.minor", o.ServerVersion))
		}
	}
	return errors.Join(errs...)
}

func consistencyLevel(s string) (entity.ConsistencyLevel, bool) {
	switch s {
	case ConsistencyStrong:
		return entity.ClStrong, true
	case ConsistencyBounded:
		return entity.ClBounded, true
	case ConsistencySession:
		return entity.ClSession, true
	case ConsistencyEventually:
		return entity.ClEventually, true
	}
	return 0, false
}

// features are what the server supports, from its version.
type features struct {
	// bm25: full-text search (BM25 function, sparse index, native hybrid
	// with lexical), Milvus 2.5 and later.
	bm25 bool
	// templates: filter expression templates (bound values), 2.5 and later.
	templates bool
}

var versionRE = regexp.MustCompile(`(\d+)\.(\d+)`)

// parseVersion finds major.minor in a version string such as "v2.5.4" or
// "Zilliz Cloud (Compatible with Milvus 2.5)".
func parseVersion(v string) (major, minor int, ok bool) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(m[1])
	minor, err2 := strconv.Atoi(m[2])
	return major, minor, err1 == nil && err2 == nil
}

// featuresOf decides from a version string; an unreadable version is taken
// as a current server.
func featuresOf(version string) features {
	major, minor, ok := parseVersion(version)
	if !ok {
		return features{bm25: true, templates: true}
	}
	modern := major > 2 || major == 2 && minor >= 5
	return features{bm25: modern, templates: modern}
}

// Store is a retrieval.Store in Milvus. It is safe for concurrent use.
type Store struct {
	c       *milvusclient.Client
	opts    Options
	level   entity.ConsistencyLevel
	feat    features
	version string
	slots   chan struct{}
	closed  atomic.Bool

	mu    sync.Mutex
	colls map[string]collInfo // Milvus collection name -> what it holds

	fileLocks [64]sync.Mutex // serialise replaces of one file
	collLocks [64]sync.Mutex // serialise creating and dropping one collection
}

// collInfo is a Milvus collection as the store created it.
type collInfo struct {
	dim  int
	bm25 bool
}

// Open connects to the server, probes its version once to choose the
// features it supports, and returns the store. Collections are created on
// first write.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open milvus: %w", err)
	}
	opts = opts.withDefaults()
	level, _ := consistencyLevel(opts.Consistency)
	cfg := &milvusclient.ClientConfig{
		Address:       withPort(opts.Address),
		Username:      opts.Username,
		Password:      opts.Password.Reveal(),
		APIKey:        opts.Token.Reveal(),
		DBName:        opts.Database,
		EnableTLSAuth: opts.TLS,
		DialOptions:   dialOptions(),
	}
	cctx, cancel := context.WithTimeout(ctx, opts.RequestTimeout)
	defer cancel()
	c, err := milvusclient.New(cctx, cfg)
	if err != nil {
		// The client's message may quote the address; never the secret.
		return nil, fmt.Errorf("open milvus: %w", wrap(ctx, err))
	}
	s := &Store{c: c, opts: opts, level: level, slots: make(chan struct{}, opts.MaxConcurrency), colls: map[string]collInfo{}}
	s.version = opts.ServerVersion
	if s.version == "" {
		s.version, err = c.GetServerVersion(cctx, milvusclient.NewGetServerVersionOption())
		if err != nil {
			_ = c.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("open milvus: server version: %w", wrap(ctx, err))
		}
	}
	s.feat = featuresOf(s.version)
	return s, nil
}

// withPort adds Milvus's default port to a bare host.
func withPort(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return net.JoinHostPort(strings.Trim(addr, "[]"), "19530")
	}
	return addr
}

// dialOptions are the client's defaults without blocking dials: a server
// that is down fails the call (retrieval.ErrUnavailable) instead of
// hanging until the deadline.
func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 3 * time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20)),
	}
}

// Version is the server version the store probed (or was given).
func (s *Store) Version() string { return s.version }

// BM25 reports whether the server does full-text search (Milvus 2.5+).
func (s *Store) BM25() bool { return s.feat.bm25 }

// Close releases the connection.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.c.Close(context.Background()); err != nil {
		return fmt.Errorf("close milvus: %w", err)
	}
	return nil
}

// call runs fn holding one of the store's slots, under the request
// timeout. Waiting for a slot is bounded by the acquire timeout.
func (s *Store) call(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: store closed", retrieval.ErrUnavailable)
	}
	if err := acquire(ctx, s.slots, s.opts.AcquireTimeout); err != nil {
		return err
	}
	defer func() { <-s.slots }()
	rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	return wrap(ctx, fn(rctx))
}

// acquire takes a slot of sem, waiting at most d.
func acquire(ctx context.Context, sem chan struct{}, d time.Duration) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%w: too many concurrent requests", retrieval.ErrUnavailable)
	}
}

// lockOf returns the stripe of locks keyed by parts.
func lockOf(locks *[64]sync.Mutex, parts ...string) *sync.Mutex {
	h := fnv.New32a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return &locks[h.Sum32()%uint32(len(locks))]
}
