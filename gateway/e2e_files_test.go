package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/llm/llmtest"
	"github.com/ragway/ragway/policies/keys"
	"github.com/ragway/ragway/retrieval/retrievaltest"
)

const guideMD = `# Ragway guide

## Installing

Download the binary and run ragway serve to start the gateway on port 8080.

## Backends

Backends are listed in the YAML configuration file with a name, a type and a URL.
`

func uploadSDK(t *testing.T, client openai.Client, name, text string) *openai.FileObject {
	t.Helper()
	f, err := client.Files.New(context.Background(), openai.FileNewParams{
		File:    openai.File(strings.NewReader(text), name, "text/plain"),
		Purpose: openai.FilePurposeAssistants,
	})
	require.NoError(t, err)
	return f
}

func apiStatus(t *testing.T, err error) int {
	t.Helper()
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr), "want an API error, got %v", err)
	return apiErr.StatusCode
}

func TestFilesAndVectorStoresThroughSDK(t *testing.T) {
	h := startGateway(t, fakeConfig)
	client := h.client()
	ctx := context.Background()

	f := uploadSDK(t, client, "guide.md", guideMD)
	require.True(t, strings.HasPrefix(f.ID, "file-"))
	require.Equal(t, int64(len(guideMD)), f.Bytes)
	require.Equal(t, "guide.md", f.Filename)
	got, err := client.Files.Get(ctx, f.ID)
	require.NoError(t, err)
	require.Equal(t, f.ID, got.ID)
	list, err := client.Files.List(ctx, openai.FileListParams{})
	require.NoError(t, err)
	require.Len(t, list.Data, 1)
	resp, err := client.Files.Content(ctx, f.ID)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	require.Equal(t, guideMD, string(body))

	vs, err := client.VectorStores.New(ctx, openai.VectorStoreNewParams{
		Name:     openai.String("handbook"),
		Metadata: shared.Metadata{"team": "docs"},
		ChunkingStrategy: openai.FileChunkingStrategyParamUnion{OfStatic: &openai.StaticFileChunkingStrategyObjectParam{
			Static: openai.StaticFileChunkingStrategyParam{MaxChunkSizeTokens: 200, ChunkOverlapTokens: 20}}},
	})
	require.NoError(t, err)
	require.Equal(t, "handbook", vs.Name)
	require.Equal(t, "docs", vs.Metadata["team"])

	vf, err := client.VectorStores.Files.NewAndPoll(ctx, vs.ID, openai.VectorStoreFileNewParams{
		FileID: f.ID,
		Attributes: map[string]openai.VectorStoreFileNewParamsAttributeUnion{
			"lang": {OfString: openai.String("en")}, "year": {OfFloat: openai.Float(2024)},
		},
	}, 10)
	require.NoError(t, err)
	require.Equal(t, openai.VectorStoreFileStatusCompleted, vf.Status, "last error: %+v", vf.LastError)
	require.Positive(t, vf.UsageBytes)
	require.Equal(t, int64(200), vf.ChunkingStrategy.Static.MaxChunkSizeTokens)

	page, err := client.VectorStores.Search(ctx, vs.ID, openai.VectorStoreSearchParams{
		Query:         openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("which YAML file lists backends")},
		MaxNumResults: openai.Int(3),
		Filters: openai.VectorStoreSearchParamsFiltersUnion{OfComparisonFilter: &shared.ComparisonFilterParam{
			Key: "lang", Type: shared.ComparisonFilterTypeEq, Value: shared.ComparisonFilterValueUnionParam{OfString: openai.String("en")}}},
		RankingOptions: openai.VectorStoreSearchParamsRankingOptions{Ranker: "auto"},
	})
	require.NoError(t, err)
	require.NotEmpty(t, page.Data)
	top := page.Data[0]
	require.Equal(t, f.ID, top.FileID)
	require.Equal(t, "guide.md", top.Filename)
	require.Equal(t, "text", top.Content[0].Type)
	require.Contains(t, top.Content[0].Text, "YAML")
	require.Equal(t, "en", top.Attributes["lang"].OfString)
	require.InDelta(t, 2024, top.Attributes["year"].OfFloat, 0)

	none, err := client.VectorStores.Search(ctx, vs.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("backends")},
		Filters: openai.VectorStoreSearchParamsFiltersUnion{OfComparisonFilter: &shared.ComparisonFilterParam{
			Key: "year", Type: shared.ComparisonFilterTypeGt, Value: shared.ComparisonFilterValueUnionParam{OfFloat: openai.Float(2030)}}},
	})
	require.NoError(t, err)
	require.Empty(t, none.Data)

	store, err := client.VectorStores.Get(ctx, vs.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), store.FileCounts.Completed)
	require.Equal(t, openai.VectorStoreStatusCompleted, store.Status)

	testBatchThroughSDK(t, h, client, vs.ID)

	_, err = client.Files.Delete(ctx, f.ID)
	require.NoError(t, err)
	page, err = client.VectorStores.Search(ctx, vs.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("which YAML file lists backends")}})
	require.NoError(t, err)
	for _, r := range page.Data {
		require.NotEqual(t, f.ID, r.FileID, "a deleted file's chunks are gone")
	}
	_, err = client.Files.Get(ctx, f.ID)
	require.Equal(t, http.StatusNotFound, apiStatus(t, err))

	deleted, err := client.VectorStores.Delete(ctx, vs.ID)
	require.NoError(t, err)
	require.True(t, deleted.Deleted)
	_, err = client.VectorStores.Get(ctx, vs.ID)
	require.Equal(t, http.StatusNotFound, apiStatus(t, err))
}

func testBatchThroughSDK(t *testing.T, h *harness, client openai.Client, storeID string) {
	ctx := context.Background()
	good := uploadSDK(t, client, "notes.txt", "Ragway notes: the admin API manages keys and usage.")
	bad := uploadSDK(t, client, "empty.txt", "")
	batch, err := client.VectorStores.FileBatches.NewAndPoll(ctx, storeID, openai.VectorStoreFileBatchNewParams{
		FileIDs: []string{good.ID, bad.ID}}, 10)
	require.NoError(t, err)
	require.Equal(t, openai.VectorStoreFileBatchStatusCompleted, batch.Status)
	require.Equal(t, int64(1), batch.FileCounts.Completed)
	require.Equal(t, int64(1), batch.FileCounts.Failed)
	failed, err := client.VectorStores.FileBatches.ListFiles(ctx, storeID, batch.ID, openai.VectorStoreFileBatchListFilesParams{
		Filter: openai.VectorStoreFileBatchListFilesParamsFilterFailed})
	require.NoError(t, err)
	require.Len(t, failed.Data, 1)
	require.Equal(t, bad.ID, failed.Data[0].ID)
	require.Equal(t, "empty_file", string(failed.Data[0].LastError.Code))
	require.NotEmpty(t, failed.Data[0].LastError.Message)

	updated, err := client.VectorStores.Files.Update(ctx, storeID, good.ID, openai.VectorStoreFileUpdateParams{
		Attributes: map[string]openai.VectorStoreFileUpdateParamsAttributeUnion{"kind": {OfString: openai.String("notes")}}})
	require.NoError(t, err)
	require.Equal(t, "notes", updated.Attributes["kind"].OfString)
	updated, err = client.VectorStores.Files.PollStatus(ctx, storeID, good.ID, 10)
	require.NoError(t, err)
	require.Equal(t, openai.VectorStoreFileStatusCompleted, updated.Status)
	found, err := client.VectorStores.Search(ctx, storeID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("admin API keys usage")},
		Filters: openai.VectorStoreSearchParamsFiltersUnion{OfComparisonFilter: &shared.ComparisonFilterParam{
			Key: "kind", Type: shared.ComparisonFilterTypeEq, Value: shared.ComparisonFilterValueUnionParam{OfString: openai.String("notes")}}},
	})
	require.NoError(t, err)
	require.Len(t, found.Data, 1)
	require.Equal(t, good.ID, found.Data[0].FileID)

	files, err := client.VectorStores.Files.List(ctx, storeID, openai.VectorStoreFileListParams{
		Filter: openai.VectorStoreFileListParamsFilterCompleted})
	require.NoError(t, err)
	require.Len(t, files.Data, 2)

	_, err = client.VectorStores.Files.Delete(ctx, storeID, good.ID)
	require.NoError(t, err)
	_, err = client.VectorStores.Files.Get(ctx, storeID, good.ID)
	require.Equal(t, http.StatusNotFound, apiStatus(t, err))
}

func TestVectorStoresTenantAndCollectionAccess(t *testing.T) {
	h := startGateway(t, fakeConfig+`
auth:
  anonymous: {enabled: false}
roles:
  - {name: reader, models: ["*"], collections: ["public-*"]}
`)
	ctx := context.Background()
	owner := h.client()
	f := uploadSDK(t, owner, "guide.md", guideMD)
	secret, err := owner.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("secret"), FileIDs: []string{f.ID}})
	require.NoError(t, err)
	public, err := owner.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("public-docs")})
	require.NoError(t, err)

	clientFor := func(tenant, role string) openai.Client {
		_, key, err := h.srv.keySvc.Create(ctx, keys.CreateRequest{Tenant: tenant, Name: tenant + role, Roles: []string{role}})
		require.NoError(t, err)
		return h.client(option.WithAPIKey(key.Reveal()))
	}
	t.Run("other tenant", func(t *testing.T) {
		other := clientFor("globex", "user")
		_, err := other.VectorStores.Get(ctx, secret.ID)
		require.Equal(t, http.StatusNotFound, apiStatus(t, err))
		_, err = other.Files.Get(ctx, f.ID)
		require.Equal(t, http.StatusNotFound, apiStatus(t, err))
		_, err = other.VectorStores.Search(ctx, secret.ID, openai.VectorStoreSearchParams{
			Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("backends")}})
		require.Equal(t, http.StatusNotFound, apiStatus(t, err))
		list, err := other.VectorStores.List(ctx, openai.VectorStoreListParams{})
		require.NoError(t, err)
		require.Empty(t, list.Data)
	})
	t.Run("collection role", func(t *testing.T) {
		reader := clientFor("default", "reader")
		_, err := reader.VectorStores.Get(ctx, secret.ID)
		require.Equal(t, http.StatusNotFound, apiStatus(t, err))
		got, err := reader.VectorStores.Get(ctx, public.ID)
		require.NoError(t, err)
		require.Equal(t, "public-docs", got.Name)
		list, err := reader.VectorStores.List(ctx, openai.VectorStoreListParams{})
		require.NoError(t, err)
		require.Len(t, list.Data, 1)
		_, err = reader.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("private")})
		require.Equal(t, http.StatusForbidden, apiStatus(t, err))
	})
}

func TestFilesRequestErrors(t *testing.T) {
	h := startGateway(t, fakeConfig+`
ingest: {max_file_bytes: 2048}
`)
	client := h.client()
	ctx := context.Background()
	_, err := client.Files.New(ctx, openai.FileNewParams{
		File: openai.File(strings.NewReader(strings.Repeat("x", 1<<20+4096)), "big.txt", "text/plain"), Purpose: openai.FilePurposeAssistants})
	require.Equal(t, http.StatusRequestEntityTooLarge, apiStatus(t, err))
	_, err = client.Files.New(ctx, openai.FileNewParams{
		File: openai.File(strings.NewReader(strings.Repeat("x", 4096)), "big.txt", "text/plain"), Purpose: openai.FilePurposeAssistants})
	require.Equal(t, http.StatusRequestEntityTooLarge, apiStatus(t, err))

	vs, err := client.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("docs")})
	require.NoError(t, err)
	f := uploadSDK(t, client, "a.txt", "some text")
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"missing file", "/v1/vector_stores/" + vs.ID + "/files", `{"file_id":"file-nope"}`, http.StatusNotFound},
		{"bad attributes", "/v1/vector_stores/" + vs.ID + "/files", `{"file_id":"` + f.ID + `","attributes":{"a":[1]}}`, http.StatusBadRequest},
		{"bad purpose", "/v1/files", `{}`, http.StatusBadRequest},
		{"bad chunking", "/v1/vector_stores", `{"chunking_strategy":{"type":"static","static":{"max_chunk_size_tokens":5}}}`, http.StatusBadRequest},
		{"search without query", "/v1/vector_stores/" + vs.ID + "/search", `{}`, http.StatusBadRequest},
		{"search too many results", "/v1/vector_stores/" + vs.ID + "/search", `{"query":"x","max_num_results":51}`, http.StatusBadRequest},
		{"search bad filter", "/v1/vector_stores/" + vs.ID + "/search", `{"query":"x","filters":{"type":"xor"}}`, http.StatusBadRequest},
		{"search bad mode", "/v1/vector_stores/" + vs.ID + "/search", `{"query":"x","mode":"psychic"}`, http.StatusBadRequest},
		{"unknown store", "/v1/vector_stores/vs_nope/search", `{"query":"x"}`, http.StatusNotFound},
		{"not json", "/v1/vector_stores", `[`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := h.post(tt.path, tt.body, "Authorization", "Bearer "+h.apiKey)
			require.Equal(t, tt.status, status, body)
			require.Contains(t, body, `"error"`)
		})
	}
}

func TestRoles(t *testing.T) {
	t.Run("worker serves only health and metrics", func(t *testing.T) {
		h := startGatewayWithRole(t, "worker")
		for path, want := range map[string]int{"/healthz": http.StatusOK, "/metrics": http.StatusOK, "/v1/files": http.StatusNotFound, "/v1/models": http.StatusNotFound} {
			resp, err := http.Get(h.url + path)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, want, resp.StatusCode, path)
		}
	})
	t.Run("gateway does not index", func(t *testing.T) {
		h := startGatewayWithRole(t, "gateway")
		client := h.client()
		ctx := context.Background()
		f := uploadSDK(t, client, "guide.md", guideMD)
		vs, err := client.VectorStores.New(ctx, openai.VectorStoreNewParams{FileIDs: []string{f.ID}})
		require.NoError(t, err)
		// Polled on the test's goroutine: require.Never's condition runs in
		// one of its own, which can still be polling after it returns and
		// the gateway has shut down.
		for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			got, err := client.VectorStores.Files.Get(ctx, vs.ID, f.ID)
			require.NoError(t, err)
			require.Equal(t, openai.VectorStoreFileStatusInProgress, got.Status, "a gateway-only process does not index")
		}
	})
}

// startGatewayWithRole starts the fake-backed gateway with server.role set.
func startGatewayWithRole(t *testing.T, role string) *harness {
	t.Helper()
	yamlText := strings.Replace(fakeConfig, "allow_target_header: true,", "allow_target_header: true, role: "+role+",", 1)
	require.NotEqual(t, fakeConfig, yamlText)
	return startGateway(t, yamlText)
}

// TestSplitRolesOnRedis runs a gateway-only and a worker-only process on one
// Redis queue, one catalogue and one pgvector store: the gateway queues,
// the worker indexes, and the gateway's search finds what it indexed.
func TestSplitRolesOnRedis(t *testing.T) {
	addr := redisAddr(t)
	dsn := retrievaltest.PostgresDSN(t)
	schema := retrievaltest.PostgresSchema(t, dsn, "rgroles", t.TempDir())
	env := map[string]string{"TEST_PG_DSN": dsn}
	dir := t.TempDir()
	prefix := fmt.Sprintf("ragway:test:%d:", time.Now().UnixNano())
	withRole := func(role string) string {
		text := strings.Replace(fakeConfig, "allow_target_header: true,", "allow_target_header: true, role: "+role+",", 1)
		return text + fmt.Sprintf("ingest:\n  redis: {addr: %q, queue: {prefix: %q, block: 50ms, retry_initial: 10ms}}\n"+
			"  retrieval: {store: pgvector, pgvector: {dsn_env: TEST_PG_DSN, schema: %s}}\n", addr, prefix, schema)
	}
	fake := llmtest.NewServer()
	t.Cleanup(fake.Close)
	gw := startGatewayFull(t, fake, withRole("gateway"), env, dir)
	client := gw.client()
	ctx := context.Background()
	f := uploadSDK(t, client, "guide.md", guideMD)
	vs, err := client.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("docs")})
	require.NoError(t, err)
	_, err = client.VectorStores.Files.New(ctx, vs.ID, openai.VectorStoreFileNewParams{FileID: f.ID})
	require.NoError(t, err)

	worker := startGatewayFull(t, fake, withRole("worker"), env, dir)
	resp, err := http.Get(worker.url + "/v1/files")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	got, err := client.VectorStores.Files.PollStatus(ctx, vs.ID, f.ID, 10)
	require.NoError(t, err)
	require.Equal(t, openai.VectorStoreFileStatusCompleted, got.Status, "last error: %+v", got.LastError)
	page, err := client.VectorStores.Search(ctx, vs.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("download the binary")}})
	require.NoError(t, err)
	require.NotEmpty(t, page.Data, "the gateway searches what the worker indexed")
}
