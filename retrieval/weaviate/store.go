// Package weaviate is a retrieval.Store kept in a Weaviate server: HNSW
// for vector search, Weaviate's BM25 for lexical search and its native
// hybrid search (relative score fusion) for hybrid.
//
// # Mapping
//
// Each (tenant, collection) is one Weaviate class named
// <Prefix>_<32 hex digits of SHA-256(tenant, collection)>, so any tenant or
// collection name gives a valid class name (/^[A-Z][_0-9A-Za-z]*$/) and
// tenants never share a class, an index or a BM25 statistic. The class
// description records the tenant, the collection and the vector size as
// JSON, which is how the store lists its collections. Classes use the
// vectorizer "none" (vectors are ours) and the cosine distance.
//
// A chunk is one object whose UUID derives from its file id and chunk id,
// so writing the same chunk again overwrites it. Its fields are properties:
// text (stored, returned, unindexed), terms (the text analysed by
// analysis.Terms, as the embedded store analyses it, joined by spaces;
// whitespace tokenization, the class's stopwords preset "none", BM25 k1
// 1.2 and b 0.75), file_key (the file id hex-encoded behind an "x",
// filterable, so whitespace trimming of Weaviate's field tokenization
// cannot merge two ids), and the rest stored unindexed. BM25, alone and as
// the keyword half of hybrid search, reads terms with the query analysed
// alike. The attributes are kept twice: exactly, as JSON in the unindexed
// property attrs, and typed for filtering, one property per key and kind named
// as_/an_/ab_ (string, number, boolean) followed by 24 hex digits of the
// key's SHA-256. Strings are stored hex-encoded behind an "x", which keeps
// their byte order, so eq, ne, gt, gte, lt and lte compare like Go strings.
// A filter on a key the class has never seen matches nothing; ne is sent
// as lt-or-gt so a chunk without the key never matches it, as
// retrieval.Filter.Match says.
//
// Classes made before the terms property keep searching their text
// (Weaviate's word tokenization and English stopwords, no stemming), so
// their chunks stay found; the first write adds the property, and new
// chunks carry terms. Store.Reindex fills the terms of the older chunks and
// switches the class over; deleting the collection and writing it again
// (re-ingesting, or `ragway collections migrate --fresh` from another
// store) does the same.
//
// Searches read the class definition (vector size, attribute properties)
// from a cache (Options.SchemaCacheTTL), not from the server each time.
//
// # Consistency
//
// Weaviate has no transactions: ReplaceFile writes the new chunks first,
// then deletes the file's chunks that are not among them. A search during
// a replace sees the new chunks, the old ones or both, never neither; once
// ReplaceFile returns only the new ones. Replace is therefore not atomic.
// Writes are searchable when they return as long as the server indexes
// synchronously (ASYNC_INDEXING off, Weaviate's default).
//
// # Transport
//
// Schema changes go through the REST API as JSON; searches, imports,
// deletes and aggregations go through Weaviate's gRPC API (protocol
// weaviate.v1), whose filters and queries carry typed values: no user
// string is ever spliced into a GraphQL query. Both are bounded by
// Options.MaxConcurrency and Options.Timeout.
package weaviate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval"
)

var (
	_ retrieval.Store  = (*Store)(nil)
	_ retrieval.Reader = (*Store)(nil)
)

// DefaultAlpha is the vector share of hybrid search (Weaviate's alpha).
// The embedded and pgvector stores give the lexical list 0.95 of a
// weighted fusion (retrieval.FuseWeighted); alpha 0.05 gives Weaviate's
// relative score fusion the same weights, so the stores rank alike: BM25
// decides, vector similarity breaks ties and adds chunks without the
// words. (Weaviate normalises each list min-max, the others by its best
// score, so the orders can still differ slightly.)
const DefaultAlpha = 0.05

// Limits.
const (
	maxDimensions = 65535 // Weaviate's largest vector
	grpcMaxMsg    = 64 << 20
	pageSize      = 1000 // objects per read page and per delete
)

// Options configure the store. The zero value of every field but URL gives
// its default.
type Options struct {
	// URL is the REST endpoint, http(s)://host:port.
	URL string
	// GRPCAddress is the gRPC endpoint, host:port; default the URL's host
	// on port 50051.
	GRPCAddress string
	// APIKey authenticates to the server, when it wants one.
	APIKey llm.Secret
	// ClassPrefix starts every class name; default "Ragway". It must match
	// /^[A-Z][0-9A-Za-z]*$/.
	ClassPrefix string
	// Timeout bounds each request to the server (an import of many
	// batches makes many); default 30s.
	Timeout time.Duration
	// BatchSize is the number of objects per import request; default 200.
	BatchSize int
	// Ef is the HNSW search beam; default -1 (Weaviate's dynamic ef).
	// EfConstruction and MaxConnections build the index; defaults 128 and
	// 32 (Weaviate's).
	Ef, EfConstruction, MaxConnections int
	// Alpha is the vector share of hybrid search, in [0,1]; default
	// DefaultAlpha. Use a negative value for 0 (pure BM25 ranking).
	Alpha float64
	// MaxConcurrency bounds the operations in flight; default 16. An
	// operation waits at most AcquireTimeout (default 5s) for a slot, then
	// fails with retrieval.ErrUnavailable.
	MaxConcurrency int
	AcquireTimeout time.Duration
	// SchemaCacheTTL is how long a search trusts a class definition it
	// read, rather than asking the server again; default 5s, negative: ask
	// every time. This process's schema changes are seen at once; those of
	// other processes (a collection dropped or given new attribute keys)
	// once the TTL has passed.
	SchemaCacheTTL time.Duration
}

var prefixRE = regexp.MustCompile(`^[A-Z][0-9A-Za-z]{0,63}$`)

func (o Options) withDefaults() (Options, error) {
	if o.ClassPrefix == "" {
		o.ClassPrefix = "Ragway"
	}
	if !prefixRE.MatchString(o.ClassPrefix) {
		return o, errors.New("class prefix must be a capital letter then up to 63 letters or digits")
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 200
	}
	o.BatchSize = min(o.BatchSize, 10000)
	if o.Ef == 0 {
		o.Ef = -1
	}
	if o.EfConstruction <= 0 {
		o.EfConstruction = 128
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 32
	}
	switch {
	case o.Alpha == 0 || o.Alpha > 1:
		o.Alpha = DefaultAlpha
	case o.Alpha < 0:
		o.Alpha = 0
	}
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = 16
	}
	if o.AcquireTimeout <= 0 {
		o.AcquireTimeout = 5 * time.Second
	}
	switch {
	case o.SchemaCacheTTL == 0:
		o.SchemaCacheTTL = 5 * time.Second
	case o.SchemaCacheTTL < 0:
		o.SchemaCacheTTL = 0
	}
	return o, nil
}

// Store is the Weaviate store. It is safe for concurrent use.
type Store struct {
	opts    Options
	base    string // REST base URL, no trailing slash
	http    *http.Client
	conn    *grpc.ClientConn
	rpc     pb.WeaviateClient
	auth    string // "Bearer <key>" or ""
	slots   chan struct{}
	fileMu  [64]sync.Mutex // serialises replaces of one file in this process
	classes *classCache
}

// Open connects to the server and checks that it answers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open weaviate: %w", err)
	}
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("open weaviate: url must be http(s)://host:port")
	}
	grpcAddr := opts.GRPCAddress
	if grpcAddr == "" {
		grpcAddr = net.JoinHostPort(u.Hostname(), "50051")
	}
	auth := ""
	if opts.APIKey != "" {
		auth = "Bearer " + string(opts.APIKey)
	}
	conn, err := grpc.NewClient(grpcAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(callOptions(auth, opts.Timeout)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcMaxMsg), grpc.MaxCallSendMsgSize(grpcMaxMsg)))
	if err != nil {
		return nil, fmt.Errorf("open weaviate: bad grpc address: %w", err)
	}
	s := &Store{opts: opts, base: u.Scheme + "://" + u.Host, http: &http.Client{Timeout: opts.Timeout}, conn: conn, rpc: pb.NewWeaviateClient(conn), auth: auth,
		slots: make(chan struct{}, opts.MaxConcurrency), classes: newClassCache(opts.SchemaCacheTTL)}
	if err := s.ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("open weaviate: %w", err)
	}
	return s, nil
}

// ping checks both endpoints: REST readiness, then a gRPC call.
func (s *Store) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := s.restReady(ctx); err != nil {
		return wrap(err)
	}
	_, err := s.rpc.TenantsGet(ctx, &pb.TenantsGetRequest{Collection: s.opts.ClassPrefix + "_ping"})
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
		return wrap(err)
	}
	// Any answer but Unavailable (the class does not exist) means gRPC works.
	return nil
}

// Close releases the connections.
func (s *Store) Close() error {
	return s.conn.Close()
}

// callOptions bounds every gRPC call by the request timeout and adds the
// credentials.
func callOptions(auth string, timeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if auth != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", auth)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// acquire takes a concurrency slot within the acquire timeout. Each
// request the operation then makes is bounded by the request timeout.
func (s *Store) acquire(ctx context.Context) (context.Context, func(), error) {
	t := time.NewTimer(s.opts.AcquireTimeout)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-t.C:
		return nil, nil, fmt.Errorf("%w: too many requests in flight", retrieval.ErrUnavailable)
	}
	return ctx, func() { <-s.slots }, nil
}

// wrap marks failures to reach the server, and server-side failures, as
// retrieval.ErrUnavailable, and requests the server refuses as
// retrieval.ErrInvalidQuery.
func wrap(err error) error {
	if err == nil || errors.Is(err, retrieval.ErrInvalidQuery) || errors.Is(err, retrieval.ErrUnavailable) ||
		errors.Is(err, retrieval.ErrNotFound) || errors.Is(err, context.Canceled) {
		return err
	}
	var re *restError
	if errors.As(err, &re) {
		switch {
		case re.Status >= 500, re.Status == http.StatusTooManyRequests:
			return fmt.Errorf("%w: %w", retrieval.ErrUnavailable, err)
		case re.Status == http.StatusUnauthorized || re.Status == http.StatusForbidden:
			return fmt.Errorf("weaviate refused the credentials (status %d)", re.Status)
		case re.Status >= 400:
			return fmt.Errorf("%w: %w", retrieval.ErrInvalidQuery, err)
		}
		return err
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
			return fmt.Errorf("%w: %s", retrieval.ErrInvalidQuery, st.Message())
		case codes.Unauthenticated, codes.PermissionDenied:
			return fmt.Errorf("weaviate refused the credentials: %s", st.Code())
		case codes.Canceled:
			return fmt.Errorf("%w: %s", context.Canceled, st.Message())
		}
		return fmt.Errorf("%w: %s: %s", retrieval.ErrUnavailable, st.Code(), st.Message())
	}
	return fmt.Errorf("%w: %w", retrieval.ErrUnavailable, err)
}
