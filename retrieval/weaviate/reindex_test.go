package weaviate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/ragway/ragway/retrieval"
)

// liveStore opens a store on the test server under a prefix of its own,
// dropped when the test ends; it fails when the server is not configured
// unless RAGWAY_TEST_NO_SERVICES=1.
func liveStore(t *testing.T) *Store {
	t.Helper()
	u := os.Getenv("RAGWAY_TEST_WEAVIATE_URL")
	if u == "" {
		if os.Getenv("RAGWAY_TEST_NO_SERVICES") == "1" {
			t.Skip("RAGWAY_TEST_WEAVIATE_URL is unset and RAGWAY_TEST_NO_SERVICES=1")
		}
		t.Fatal(`RAGWAY_TEST_WEAVIATE_URL is unset: run eval "$(deploy/dev/services.sh up)"`)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s, err := Open(context.Background(), Options{URL: u, GRPCAddress: os.Getenv("RAGWAY_TEST_WEAVIATE_GRPC"), ClassPrefix: "Rgtest" + hex.EncodeToString(b)})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.dropClasses(context.Background()))
		require.NoError(t, s.Close())
	})
	return s
}

func (s *Store) dropClasses(ctx context.Context) error {
	classes, err := s.restClasses(ctx)
	if err != nil {
		return err
	}
	for _, c := range classes {
		if isClassName(s.opts.ClassPrefix, c.Class) {
			if err := s.dropClass(ctx, c.Class); err != nil {
				return err
			}
		}
	}
	return nil
}

// createOldClass makes the class of a collection as the store made it
// before analysed lexical search, holding one chunk written then.
func createOldClass(t *testing.T, s *Store, tenant, collection string, old retrieval.Chunk) string {
	t.Helper()
	ctx := context.Background()
	name := className(s.opts.ClassPrefix, tenant, collection)
	def := s.newClass(name, classMeta{})
	def.Description = `{"tenant":"` + tenant + `","collection":"` + collection + `","dim":2}`
	def.InvertedIndexConfig["stopwords"] = map[string]any{"preset": "en"}
	props := def.Properties[:0]
	for _, p := range def.Properties {
		switch p.Name {
		case propTerms:
			continue
		case propText:
			p = textProp(propText, false, true, "word")
		}
		props = append(props, p)
	}
	def.Properties = props
	require.NoError(t, s.do(ctx, http.MethodPost, "/v1/schema", def, nil))
	o, err := toObject(name, old.FileID, old)
	require.NoError(t, err)
	delete(o.GetProperties().GetNonRefProperties().GetFields(), propTerms)
	reply, err := s.rpc.BatchObjects(ctx, &pb.BatchObjectsRequest{Objects: []*pb.BatchObject{o}})
	require.NoError(t, err)
	require.Empty(t, reply.GetErrors())
	return name
}

// TestOldClass checks a collection made before analysed lexical search:
// its chunks stay searchable (by their words) after new writes, and
// Reindex switches it to analysed search without losing any.
func TestOldClass(t *testing.T) {
	s := liveStore(t)
	ctx := context.Background()
	old := retrieval.Chunk{ID: "o", FileID: "old", Text: "earlier studies of mice", Vector: []float32{1, 0}}
	name := createOldClass(t, s, "t", "c", old)

	lexical := func(text string) []string {
		t.Helper()
		res, err := s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: text, K: 10, Mode: retrieval.ModeLexical})
		require.NoError(t, err)
		ids := []string{}
		for _, r := range res {
			ids = append(ids, r.FileID)
		}
		return ids
	}
	require.Equal(t, []string{"old"}, lexical("studies"))

	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "new", []retrieval.Chunk{{ID: "n", Text: "new studies of rats", Vector: []float32{0, 1}}}))
	c, err := s.getClass(ctx, name)
	require.NoError(t, err)
	require.Equal(t, "text", c.props[propTerms], "a write adds the terms property")
	require.False(t, c.analysed(), "older chunks lack terms")
	require.ElementsMatch(t, []string{"old", "new"}, lexical("studies"), "older chunks are still found")
	require.Empty(t, lexical("study"), "the text is not stemmed")

	require.NoError(t, s.Reindex(ctx, "t", "c"))
	c, err = s.getClass(ctx, name)
	require.NoError(t, err)
	require.True(t, c.analysed())
	var def struct {
		InvertedIndexConfig struct {
			Stopwords struct{ Preset string } `json:"stopwords"`
		} `json:"invertedIndexConfig"`
	}
	require.NoError(t, s.do(ctx, http.MethodGet, classPath(name), nil, &def))
	require.Equal(t, "none", def.InvertedIndexConfig.Stopwords.Preset)
	require.ElementsMatch(t, []string{"old", "new"}, lexical("study"), "reindexed chunks are found by their stems")
	require.Equal(t, []string{"old"}, lexical("mouse earlier"))
	res, err := s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "studies", Vector: []float32{1, 0}, K: 10})
	require.NoError(t, err)
	require.Len(t, res, 2)
	require.Equal(t, "old", res[0].FileID, "hybrid ranks by the vector among equal BM25 scores")
	require.Equal(t, old.Text, res[0].Text, "the text is returned as stored")
	require.NoError(t, s.Reindex(ctx, "t", "c"), "reindexing again is a no-op")
	require.NoError(t, s.Reindex(ctx, "t", "missing"))
}
