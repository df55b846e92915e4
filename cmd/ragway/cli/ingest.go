package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/ragway/ragway/ingest/client"
)

// ingestOptions are the flags of ragway ingest.
type ingestOptions struct {
	collection  string
	server      string
	apiKey      string
	concurrency int
	timeout     time.Duration
	chunkSize   int64
	overlap     int64
	quiet       bool
}

// fileOutcome is what became of one local file.
type fileOutcome struct {
	path   string
	fileID string
	status string
	reason string
}

// ingestCmd uploads files to a collection through the gateway's Files and
// Vector Stores API, waits for indexing and prints each file's outcome.
func ingestCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fset := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var o ingestOptions
	fset.StringVar(&o.collection, "collection", "", "vector store (collection) name; created if missing (required)")
	fset.StringVar(&o.server, "server", "http://127.0.0.1:8080", "gateway URL")
	fset.StringVar(&o.apiKey, "api-key", getenv("RAGWAY_API_KEY"), "API key (default $RAGWAY_API_KEY)")
	fset.IntVar(&o.concurrency, "concurrency", 4, "parallel uploads")
	fset.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up waiting for indexing after this long")
	fset.Int64Var(&o.chunkSize, "chunk-size", 0, "static chunking: max chunk size in tokens (default: auto)")
	fset.Int64Var(&o.overlap, "chunk-overlap", 0, "static chunking: overlap in tokens")
	fset.BoolVar(&o.quiet, "quiet", false, "no progress bars")
	paths, err := parseInterleaved(fset, args)
	if err != nil {
		return err
	}
	if o.collection == "" || len(paths) == 0 {
		return usageError{"usage: ragway ingest PATH... --collection NAME [--server URL]"}
	}
	files, err := walk(paths)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("ingest: no files found")
	}
	c, err := client.New(o.server, client.WithAPIKey(o.apiKey), client.WithMaxRetries(2))
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	storeID, err := findOrCreateStore(ctx, c, o.collection)
	if err != nil {
		return err
	}
	outcomes := upload(ctx, c, storeID, files, o, stderr)
	waitIndexed(ctx, c, storeID, outcomes, o, stderr)
	failed := 0
	for _, oc := range outcomes {
		line := fmt.Sprintf("%-10s %s", oc.status, oc.path)
		if oc.reason != "" {
			line += ": " + oc.reason
		}
		fmt.Fprintln(stdout, line)
		if oc.status != "completed" {
			failed++
		}
	}
	fmt.Fprintf(stdout, "collection %s is vector store %s\n", o.collection, storeID)
	fmt.Fprintf(stdout, "%d files: %d completed, %d not\n", len(outcomes), len(outcomes)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("ingest: %d of %d files were not indexed", failed, len(outcomes))
	}
	return nil
}

// walk lists regular files under paths, skipping hidden files and folders.
func walk(paths []string) ([]string, error) {
	var out []string
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
	}
	return out, nil
}

func findOrCreateStore(ctx context.Context, c *client.Client, name string) (string, error) {
	for vs, err := range c.VectorStores(ctx) {
		if err != nil {
			return "", fmt.Errorf("list collections: %w", err)
		}
		if vs.Name == name {
			return vs.ID, nil
		}
	}
	vs, err := c.CreateVectorStore(ctx, name)
	if err != nil {
		return "", fmt.Errorf("create collection %q: %w", name, err)
	}
	return vs.ID, nil
}

// upload sends every file and adds it to the store, o.concurrency at a time.
func upload(ctx context.Context, c *client.Client, storeID string, files []string, o ingestOptions, stderr io.Writer) []*fileOutcome {
	bar := newBar(len(files), "uploading", o.quiet, stderr)
	outcomes := make([]*fileOutcome, len(files))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < max(o.concurrency, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				outcomes[i] = uploadOne(ctx, c, storeID, files[i], o)
				_ = bar.Add(1)
			}
		}()
	}
	for i := range files {
		work <- i
	}
	close(work)
	wg.Wait()
	_ = bar.Finish()
	return outcomes
}

func uploadOne(ctx context.Context, c *client.Client, storeID, path string, o ingestOptions) *fileOutcome {
	oc := &fileOutcome{path: path, status: "failed"}
	// Open once up front so that a file that cannot be opened is reported
	// with the plain open error; a retried upload opens it again.
	f, err := os.Open(path)
	if err != nil {
		oc.reason = err.Error()
		return oc
	}
	first := f
	open := func() (io.ReadCloser, error) {
		if first != nil {
			r := first
			first = nil
			return r, nil
		}
		return os.Open(path)
	}
	up, err := c.UploadFile(ctx, filepath.Base(path), open)
	if first != nil {
		_ = first.Close()
	}
	if err != nil {
		oc.reason = apiReason(err)
		return oc
	}
	oc.fileID = up.ID
	params := client.AddFileParams{
		FileID:     up.ID,
		Attributes: map[string]string{"path": truncate([]byte(path), 512)},
	}
	if o.chunkSize > 0 {
		params.ChunkingStrategy = client.StaticStrategy(o.chunkSize, o.overlap)
	}
	vf, err := c.AddFile(ctx, storeID, params)
	if err != nil {
		oc.reason = apiReason(err)
		return oc
	}
	oc.status, oc.reason = string(vf.Status), vf.ErrorMessage()
	return oc
}

// waitIndexed polls every file still in progress until it is done or ctx
// ends.
func waitIndexed(ctx context.Context, c *client.Client, storeID string, outcomes []*fileOutcome, o ingestOptions, stderr io.Writer) {
	pending := 0
	for _, oc := range outcomes {
		if oc.status == "in_progress" {
			pending++
		}
	}
	bar := newBar(pending, "indexing", o.quiet, stderr)
	defer func() { _ = bar.Finish() }()
	delay := 100 * time.Millisecond
	for pending > 0 {
		select {
		case <-ctx.Done():
			for _, oc := range outcomes {
				if oc.status == "in_progress" {
					oc.reason = "still indexing when the wait timed out"
				}
			}
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
		for _, oc := range outcomes {
			if oc.status != "in_progress" {
				continue
			}
			vf, err := c.GetFile(ctx, storeID, oc.fileID)
			if err != nil {
				var ae *client.APIError
				if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
					oc.status, oc.reason = "failed", "the file disappeared from the collection"
					pending--
					_ = bar.Add(1)
				}
				continue
			}
			if s := string(vf.Status); s != "in_progress" {
				oc.status, oc.reason = s, vf.ErrorMessage()
				pending--
				_ = bar.Add(1)
			}
		}
	}
}

func newBar(n int, desc string, quiet bool, w io.Writer) *progressbar.ProgressBar {
	if quiet {
		w = io.Discard
	}
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
}

// apiReason is an API error's message without the request dump.
func apiReason(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Message != "" {
		return fmt.Sprintf("%s (HTTP %d)", ae.Message, ae.Status)
	}
	return err.Error()
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n])
}

// parseInterleaved parses flags that may come before or after the
// positional arguments (ragway ingest docs/ --collection x) and returns
// the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
