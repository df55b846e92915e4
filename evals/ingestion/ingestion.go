// Package ingestion benchmarks document ingestion end to end: a BEIR corpus
// uploaded through the gateway's Files and Vector Stores API into the
// configured store (the embedded one by default), timed until every file
// is indexed.
package ingestion

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/ragway/ragway/gateway"
	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/stores"
)

// Options tune a run.
type Options struct {
	// Limit caps the documents uploaded (0: all).
	Limit int
	// Concurrency is the number of parallel uploads (default 8).
	Concurrency int
	// BatchSize is the number of files per file batch (default 100).
	BatchSize int
	// Timeout bounds the whole run (default 10m).
	Timeout time.Duration
	// Store is the gateway's retrieval store (default: embedded).
	Store stores.Config
}

// Report is what a run measured.
type Report struct {
	Documents int
	Bytes     int64
	Completed int
	Failed    int
	Upload    time.Duration // until every file was uploaded and added
	Total     time.Duration // until every file was indexed
	// Store is the kind indexed into; Chunks is what it holds afterwards.
	Store  string
	Chunks int
}

// Doc is one corpus document.
type Doc struct {
	ID, Title, Text string
}

// LoadCorpus reads a BEIR corpus.jsonl.
func LoadCorpus(path string, limit int) ([]Doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open corpus: %w", err)
	}
	defer f.Close()
	var docs []Doc
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var d struct {
			ID    string `json:"_id"`
			Title string `json:"title"`
			Text  string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("corpus line %d: %w", len(docs)+1, err)
		}
		docs = append(docs, Doc{ID: d.ID, Title: d.Title, Text: d.Text})
		if limit > 0 && len(docs) >= limit {
			break
		}
	}
	return docs, sc.Err()
}

// Run starts a gateway with the embedded defaults in dataDir, ingests docs
// through its HTTP API with the official OpenAI SDK and measures it.
func Run(ctx context.Context, docs []Doc, dataDir string, o Options) (*Report, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cfg, err := config.Default(func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	cfg.DataDir = dataDir
	cfg.Ingest.Retrieval = o.Store
	cfg.Backends = cfg.Backends[1:] // no Ollama probing: the built-in backend only
	cfg.Log.Level = "warn"
	srv, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, l) }()

	client := openai.NewClient(option.WithBaseURL("http://"+l.Addr().String()+"/v1/"),
		option.WithAPIKey("none"), option.WithHeaderDel("Authorization"), option.WithMaxRetries(2),
		option.WithHTTPClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}))
	rep, err := ingest(ctx, client, docs, o)
	stop()
	if serr := <-served; err == nil && serr != nil {
		err = fmt.Errorf("gateway: %w", serr)
	}
	if err != nil {
		return nil, err
	}
	rep.Store = o.Store.Default()
	rep.Chunks, err = countChunks(ctx, o.Store, dataDir)
	return rep, err
}

// countChunks sums the chunks of every collection in the store, once the
// gateway has closed it.
func countChunks(ctx context.Context, cfg stores.Config, dataDir string) (int, error) {
	st, err := stores.Open(ctx, cfg, dataDir)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	refs, err := st.Collections(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, r := range refs {
		_, n, err := retrieval.Count(ctx, st, r.Tenant, r.Collection)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func ingest(ctx context.Context, c openai.Client, docs []Doc, o Options) (*Report, error) {
	rep := &Report{Documents: len(docs)}
	start := time.Now()
	vs, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("bench")})
	if err != nil {
		return nil, fmt.Errorf("create vector store: %w", err)
	}
	ids := make([]string, len(docs))
	var next atomic.Int64
	var bytesSent atomic.Int64
	errc := make(chan error, o.Concurrency)
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(docs) {
					return
				}
				body := []byte(docs[i].Title + "\n\n" + docs[i].Text)
				bytesSent.Add(int64(len(body)))
				f, err := c.Files.New(ctx, openai.FileNewParams{
					File: openai.File(bytes.NewReader(body), docs[i].ID+".txt", "text/plain"), Purpose: openai.FilePurposeAssistants})
				if err != nil {
					errc <- fmt.Errorf("upload %s: %w", docs[i].ID, err)
					return
				}
				ids[i] = f.ID
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	for lo := 0; lo < len(ids); lo += o.BatchSize {
		hi := min(lo+o.BatchSize, len(ids))
		if _, err := c.VectorStores.FileBatches.New(ctx, vs.ID, openai.VectorStoreFileBatchNewParams{FileIDs: ids[lo:hi]}); err != nil {
			return nil, fmt.Errorf("add file batch: %w", err)
		}
	}
	rep.Upload = time.Since(start)
	rep.Bytes = bytesSent.Load()
	for {
		got, err := c.VectorStores.Get(ctx, vs.ID)
		if err != nil {
			return nil, fmt.Errorf("poll vector store: %w", err)
		}
		fc := got.FileCounts
		if fc.InProgress == 0 && int(fc.Completed+fc.Failed+fc.Cancelled) >= len(docs) {
			rep.Completed, rep.Failed = int(fc.Completed), int(fc.Failed+fc.Cancelled)
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for indexing: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	rep.Total = time.Since(start)
	return rep, nil
}

// Print writes the report.
func (r *Report) Print(w io.Writer) {
	secs := r.Total.Seconds()
	fmt.Fprintf(w, "ingestion through the HTTP API into the %s store (lexical embedder)\n", r.Store)
	fmt.Fprintf(w, "  documents      %d (%.1f MB), %d completed, %d failed\n", r.Documents, float64(r.Bytes)/1e6, r.Completed, r.Failed)
	fmt.Fprintf(w, "  uploaded in    %.2f s\n", r.Upload.Seconds())
	fmt.Fprintf(w, "  indexed in     %.2f s end to end\n", secs)
	fmt.Fprintf(w, "  throughput     %.0f documents/s, %.0f chunks/s (%d chunks), %.2f MB/s\n",
		float64(r.Documents)/secs, float64(r.Chunks)/secs, r.Chunks, float64(r.Bytes)/1e6/secs)
}

// RunSciFact ingests the corpus of a BEIR folder and prints the report.
func RunSciFact(ctx context.Context, dataDir string, o Options, w io.Writer) error {
	docs, err := LoadCorpus(filepath.Join(dataDir, "corpus.jsonl"), o.Limit)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "ragway-ingest-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rep, err := Run(ctx, docs, tmp, o)
	if err != nil {
		return err
	}
	rep.Print(w)
	return nil
}
