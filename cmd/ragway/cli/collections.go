package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/migrate"
	"github.com/ragway/ragway/retrieval/stores"
)

const collectionsUsage = `Usage:
  ragway collections list [--store KIND] [--json] [--config FILE] [--data-dir DIR]
  ragway collections migrate --from KIND --to KIND [--tenant T] [--collection C] [--fresh]
                             [--workers N] [--quiet] [--config FILE] [--data-dir DIR]
  ragway collections reindex --store KIND [--tenant T] [--collection C] [--config FILE]

Kinds: embedded, pgvector (and the others the config sets up), each with its
settings under ingest.retrieval in the config.

list shows each collection, the store holding it, and its files and chunks
(--store KIND lists what that store holds, routed there or not).

migrate copies collections (all of the source's, those of --tenant, or one
with --tenant and --collection) without re-embedding. It checkpoints under
DATA_DIR/migrations, so running it again resumes; --fresh copies everything
again. At the end it checks that the destination holds the same files and
chunk counts. Then route the collection to the new store in the config:

  ingest:
    retrieval:
      collections:
        - {tenant: T, collection: C, store: KIND}

reindex brings a store's older collections up to its current index layout in
place (Weaviate: the analysed terms its BM25 searches, for classes made before
them); stores that need none say so.

Pause ingestion into a collection while it is copied, or copy it again with
--fresh before switching: writes made during a copy may be missed. An
embedded store can be open in one process only: stop ragway serve first
when the embedded store is either end.
`

func collectionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, collectionsUsage)
		return usageError{"collections: missing subcommand"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("collections "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (default: built-in defaults)")
	dataDir := fs.String("data-dir", "", "data directory, overriding data_dir")
	kind := fs.String("store", "", "list what this store kind holds (list); the store to reindex (reindex)")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	from := fs.String("from", "", "source store kind (migrate)")
	to := fs.String("to", "", "destination store kind (migrate)")
	tenant := fs.String("tenant", "", "only this tenant's collections (migrate)")
	coll := fs.String("collection", "", "only this collection; needs --tenant (migrate)")
	fresh := fs.Bool("fresh", false, "ignore checkpoints and copy every file (migrate)")
	workers := fs.Int("workers", 4, "files copied in parallel (migrate)")
	quiet := fs.Bool("quiet", false, "no progress bar (migrate)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("collections %s: unexpected argument %q", sub, fs.Arg(0))}
	}
	cfg, err := loadConfig(*path, getenv)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	rc := cfg.Ingest.Retrieval
	switch sub {
	case "list":
		return listCollections(ctx, rc, *kind, cfg.DataDir, *asJSON, stdout)
	case "reindex":
		if *kind == "" {
			return usageError{"collections reindex: --store is required"}
		}
		if *coll != "" && *tenant == "" {
			return usageError{"collections reindex: --collection needs --tenant"}
		}
		return reindex(ctx, rc, *kind, *tenant, *coll, cfg.DataDir, stdout)
	case "migrate":
		switch {
		case *from == "" || *to == "":
			return usageError{"collections migrate: --from and --to are required"}
		case *from == *to:
			return usageError{"collections migrate: --from and --to name the same store"}
		case *coll != "" && *tenant == "":
			return usageError{"collections migrate: --collection needs --tenant"}
		case *workers < 1 || *workers > 64:
			return usageError{"collections migrate: --workers must be 1..64"}
		}
		m := migration{from: *from, to: *to, tenant: *tenant, coll: *coll, dataDir: cfg.DataDir,
			opts: migrate.Options{From: *from, To: *to, Fresh: *fresh, Workers: *workers}, quiet: *quiet}
		return m.run(ctx, rc, stdout, stderr)
	}
	fmt.Fprint(stderr, collectionsUsage)
	return usageError{fmt.Sprintf("collections: unknown subcommand %q", sub)}
}

type collectionRow struct {
	Tenant     string `json:"tenant"`
	Collection string `json:"collection"`
	Store      string `json:"store"`
	Files      int    `json:"files"`
	Chunks     int    `json:"chunks"`
}

func listCollections(ctx context.Context, rc stores.Config, kind, dataDir string, asJSON bool, stdout io.Writer) error {
	var s stores.Store
	var err error
	if kind != "" {
		s, err = stores.OpenKind(ctx, rc, kind, dataDir)
	} else {
		s, err = stores.Open(ctx, rc, dataDir)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	refs, err := s.Collections(ctx)
	if err != nil {
		return err
	}
	rows := make([]collectionRow, 0, len(refs))
	for _, ref := range refs {
		files, chunks, err := retrieval.Count(ctx, s, ref.Tenant, ref.Collection)
		if err != nil {
			return err
		}
		where := kind
		if r, ok := s.(*stores.Router); ok {
			where = r.KindFor(ref.Tenant, ref.Collection)
		} else if where == "" {
			where = rc.Default()
		}
		rows = append(rows, collectionRow{ref.Tenant, ref.Collection, where, files, chunks})
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tCOLLECTION\tSTORE\tFILES\tCHUNKS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", r.Tenant, r.Collection, r.Store, r.Files, r.Chunks)
	}
	return tw.Flush()
}

type migration struct {
	from, to, tenant, coll, dataDir string
	opts                            migrate.Options
	quiet                           bool
}

func (m migration) run(ctx context.Context, rc stores.Config, stdout, stderr io.Writer) error {
	src, err := stores.OpenKind(ctx, rc, m.from, m.dataDir)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	dst, err := stores.OpenKind(ctx, rc, m.to, m.dataDir)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer dst.Close()
	refs, err := m.collections(ctx, src)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		fmt.Fprintf(stdout, "nothing to migrate: %s holds no matching collection\n", m.from)
		return nil
	}
	failed := 0
	for _, ref := range refs {
		rep, err := m.one(ctx, src, dst, ref, stderr)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "%s/%s: failed: %v\n", ref.Tenant, ref.Collection, err)
			if errors.Is(err, migrate.ErrMismatch) {
				fmt.Fprintln(stdout, "  the source changed during the copy: pause its ingestion and run again with --fresh")
			}
			if ctx.Err() != nil {
				break
			}
			continue
		}
		fmt.Fprintf(stdout, "%s/%s: %d files, %d chunks verified in %s (copied %d, resumed %d, removed %d) in %s\n",
			ref.Tenant, ref.Collection, rep.Files, rep.Chunks, m.to, rep.Copied, rep.Resumed, rep.Removed, rep.Elapsed.Round(time.Millisecond))
	}
	if failed > 0 {
		return fmt.Errorf("collections migrate: %d of %d collections failed; run again to resume", failed, len(refs))
	}
	fmt.Fprintf(stdout, "done: route the collections to %s under ingest.retrieval.collections in the config\n", m.to)
	return nil
}

func (m migration) collections(ctx context.Context, src stores.Store) ([]retrieval.CollectionRef, error) {
	if m.coll != "" {
		return []retrieval.CollectionRef{{Tenant: m.tenant, Collection: m.coll}}, nil
	}
	all, err := src.Collections(ctx)
	if err != nil {
		return nil, fmt.Errorf("list source collections: %w", err)
	}
	var out []retrieval.CollectionRef
	for _, ref := range all {
		if m.tenant == "" || ref.Tenant == m.tenant {
			out = append(out, ref)
		}
	}
	return out, nil
}

func (m migration) one(ctx context.Context, src, dst stores.Store, ref retrieval.CollectionRef, stderr io.Writer) (migrate.Report, error) {
	sum := sha256.Sum256([]byte(ref.Tenant + "\x00" + ref.Collection))
	opts := m.opts
	opts.Checkpoint = filepath.Join(m.dataDir, "migrations", m.from+"-to-"+m.to, hex.EncodeToString(sum[:12])+".json")
	var bar interface{ Set(int) error }
	opts.Progress = func(p migrate.Progress) {
		if bar == nil {
			bar = newBar(p.TotalChunks, fmt.Sprintf("%s/%s chunks", ref.Tenant, ref.Collection), m.quiet, stderr)
		}
		_ = bar.Set(p.Chunks)
	}
	rep, err := migrate.Collection(ctx, src, dst, ref, opts)
	if err == nil {
		// A finished copy needs no checkpoint: the next run starts afresh.
		_ = os.Remove(opts.Checkpoint)
	}
	return rep, err
}

// reindexer is a store whose older collections can be brought up to its
// current index layout in place.
type reindexer interface {
	Reindex(ctx context.Context, tenant, collection string) error
}

func reindex(ctx context.Context, rc stores.Config, kind, tenant, coll, dataDir string, stdout io.Writer) error {
	s, err := stores.OpenKind(ctx, rc, kind, dataDir)
	if err != nil {
		return err
	}
	defer s.Close()
	r, ok := s.(reindexer)
	if !ok {
		fmt.Fprintf(stdout, "the %s store needs no reindexing\n", kind)
		return nil
	}
	m := migration{tenant: tenant, coll: coll}
	refs, err := m.collections(ctx, s)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if err := r.Reindex(ctx, ref.Tenant, ref.Collection); err != nil {
			return fmt.Errorf("reindex %s/%s: %w", ref.Tenant, ref.Collection, err)
		}
		fmt.Fprintf(stdout, "%s/%s: reindexed\n", ref.Tenant, ref.Collection)
	}
	fmt.Fprintf(stdout, "done: %d collections\n", len(refs))
	return nil
}
