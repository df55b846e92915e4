package milvus_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/milvus"
	"github.com/ragway/ragway/retrieval/retrievaltest"
)

// testAddr returns the live server's address. No Milvus server can run in
// the project's own test environment, so, unlike the other stores, the
// live tests skip (with this message) when MILVUS_ADDR is unset.
func testAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("MILVUS_ADDR")
	if addr == "" {
		t.Skip("MILVUS_ADDR is unset: the Milvus conformance suite needs a live server (e.g. Milvus standalone 2.5+ at localhost:19530)")
	}
	return addr
}

// prefixFor names the collections of a test directory, so reopening the
// same dir finds the same data and runs never share collections; they are
// dropped when the test ends.
func prefixFor(t *testing.T, addr, dir string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(dir))
	prefix := "rgtest_" + hex.EncodeToString(sum[:8])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: addr, APIKey: os.Getenv("MILVUS_TOKEN")})
		require.NoError(t, err)
		defer c.Close(ctx)
		names, err := c.ListCollections(ctx, milvusclient.NewListCollectionOption())
		require.NoError(t, err)
		for _, n := range names {
			if strings.HasPrefix(n, prefix+"_") {
				require.NoError(t, c.DropCollection(ctx, milvusclient.NewDropCollectionOption(n)))
			}
		}
	})
	return prefix
}

func open(t *testing.T, dir string, opts milvus.Options) *milvus.Store {
	t.Helper()
	addr := testAddr(t)
	opts.Address = addr
	opts.Token = llm.Secret(os.Getenv("MILVUS_TOKEN"))
	opts.Prefix = prefixFor(t, addr, dir)
	s, err := milvus.Open(context.Background(), opts)
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	retrievaltest.RunCaps(t, func(t *testing.T, dir string) retrieval.Store {
		return open(t, dir, milvus.Options{})
	}, retrievaltest.Caps{NonAtomicReplace: true})
}

func TestConformanceWeighted(t *testing.T) {
	retrievaltest.RunCaps(t, func(t *testing.T, dir string) retrieval.Store {
		return open(t, dir, milvus.Options{Fusion: milvus.FusionWeighted, M: 8, EfConstruction: 32, Ef: 20})
	}, retrievaltest.Caps{NonAtomicReplace: true})
}

// TestFilterInjection stores attributes whose values carry expression
// syntax and checks they match as plain data.
func TestFilterInjection(t *testing.T) {
	s := open(t, t.TempDir(), milvus.Options{})
	defer s.Close()
	ctx := context.Background()
	evil := `x" or 1==1 or attributes["k"] == "`
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f1", []retrieval.Chunk{retrievaltest.Chunk("f1", 0, "evil", retrievaltest.Vec(0, 0), map[string]any{"k": evil})}))
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f2", []retrieval.Chunk{retrievaltest.Chunk("f2", 0, "plain", retrievaltest.Vec(0, 0.1), map[string]any{"k": "plain"})}))
	res, err := s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Vector: retrievaltest.Vec(0, 0), K: 10, Mode: retrieval.ModeVector,
		Filter: &retrieval.Filter{Type: "eq", Key: "k", Value: evil}})
	require.NoError(t, err)
	require.Equal(t, []string{"f1"}, fileIDs(res))
	_, err = s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Vector: retrievaltest.Vec(0, 0), K: 10, Mode: retrieval.ModeVector,
		Filter: &retrieval.Filter{Type: "eq", Key: `k"] or 1==1 or attributes["k`, Value: "x"}})
	require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
}

func fileIDs(res []retrieval.Result) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.FileID
	}
	return out
}

// TestOpenUnreachable needs no server: nothing listens on the address, so
// Open fails with retrieval.ErrUnavailable within the request timeout and
// never quotes the password.
func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	start := time.Now()
	_, err = milvus.Open(context.Background(), milvus.Options{Address: addr, Username: "u", Password: "hunter2", RequestTimeout: time.Second})
	require.ErrorIs(t, err, retrieval.ErrUnavailable)
	require.NotContains(t, err.Error(), "hunter2")
	require.Less(t, time.Since(start), 30*time.Second)

	_, err = milvus.Open(context.Background(), milvus.Options{Address: addr, Prefix: "bad-prefix"})
	require.Error(t, err)
	require.NotErrorIs(t, err, retrieval.ErrUnavailable, "bad options are reported before connecting")
}
