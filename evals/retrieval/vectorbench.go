package retrieval

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
)

// VectorOptions configure the vector search benchmark. Zero values give
// the full-size defaults.
type VectorOptions struct {
	// Vectors indexed (default 100,000) of Dimensions values (default 384),
	// drawn from Clusters gaussian clusters (default 1,000).
	Vectors, Dimensions, Clusters int
	// Spread is each cluster's standard deviation per dimension relative
	// to the spread of the cluster centres (default 0.5).
	Spread float64
	// Queries drawn from the same clusters, not indexed (default 1,000).
	Queries int
	// K is the number of neighbours compared (default 10).
	K int
	// EfSearch values to measure (default 32, 64, 128).
	EfSearch []int
	// M and EfConstruction override the store's graph defaults.
	M, EfConstruction int
	// Seed makes the data reproducible (default 1).
	Seed uint64
	// Dir holds the embedded store; empty means a temporary directory.
	Dir string
	// Stores are measured in turn on the same data and queries; default
	// the embedded store alone.
	Stores []VectorStore
}

// VectorStore is one store under the vector benchmark.
type VectorStore struct {
	Name string
	// Open opens an empty store; dir is a fresh directory it may use.
	Open func(ctx context.Context, dir string) (retrieval.Store, error)
	// InProcess stores search on the calling thread, so queries per
	// CPU-second and heap growth are theirs; a server's are not measured.
	InProcess bool
}

// EmbeddedVectorStore is the embedded store, tuned by opts.
func EmbeddedVectorStore(opts VectorOptions) VectorStore {
	return VectorStore{Name: "embedded", InProcess: true, Open: func(ctx context.Context, dir string) (retrieval.Store, error) {
		return embedded.Open(ctx, dir, embedded.Options{M: opts.M, EfConstruction: opts.EfConstruction, NoSync: true})
	}}
}

// efSearcher is a store whose HNSW beam can be set per query.
type efSearcher interface {
	SearchEf(ctx context.Context, q retrieval.Query, ef int) ([]retrieval.Result, error)
}

func (o VectorOptions) withDefaults() VectorOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Vectors, 100_000)
	def(&o.Dimensions, 384)
	def(&o.Clusters, 1000)
	def(&o.Queries, 1000)
	def(&o.K, 10)
	if !(o.Spread > 0) {
		o.Spread = 0.5
	}
	if len(o.EfSearch) == 0 {
		o.EfSearch = []int{32, 64, 128}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if len(o.Stores) == 0 {
		o.Stores = []VectorStore{EmbeddedVectorStore(o)}
	}
	return o
}

// VectorRow is one measured search setting.
type VectorRow struct {
	EfSearch      int
	Recall        float64
	QueriesPerSec float64
	// QueriesPerCPUSec counts thread CPU time only (Linux), so it holds on
	// a machine shared with other work.
	QueriesPerCPUSec float64
}

// VectorReport is the outcome of the vector benchmark.
type VectorReport struct {
	Options VectorOptions
	Stores  []StoreVectorReport
}

// StoreVectorReport is one store's outcome.
type StoreVectorReport struct {
	Name          string
	InProcess     bool
	Build         time.Duration
	BuildCPU      time.Duration // process CPU time while building
	HeapBytes     int64         // heap growth while building, after GC
	IndexBytes    int64         // the store's estimate of its graph
	BytesPer100k  int64
	Rows          []VectorRow
	FileBatchSize int
}

// clusters generates n points around centres, each point unit length.
func clustered(rng *rand.Rand, centres [][]float32, n int, spread float64) [][]float32 {
	dim := len(centres[0])
	out := make([][]float32, n)
	block := make([]float32, n*dim)
	for i := range out {
		c := centres[rng.IntN(len(centres))]
		v := block[i*dim : (i+1)*dim : (i+1)*dim]
		for j := range v {
			v[j] = c[j] + float32(rng.NormFloat64()*spread)
		}
		out[i] = v
	}
	return out
}

// MeasureVectors builds each store over the same clustered vectors and
// measures recall@K against exact search and single-client queries per
// second.
func MeasureVectors(ctx context.Context, opts VectorOptions) (*VectorReport, error) {
	opts = opts.withDefaults()
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed+1))
	centres := make([][]float32, opts.Clusters)
	for i := range centres {
		centres[i] = make([]float32, opts.Dimensions)
		for j := range centres[i] {
			centres[i][j] = float32(rng.NormFloat64())
		}
	}
	data := clustered(rng, centres, opts.Vectors, opts.Spread)
	queries := clustered(rng, centres, opts.Queries, opts.Spread)
	truth := exact(data, queries, opts.K)
	rep := &VectorReport{Options: opts}
	for _, vs := range opts.Stores {
		sr, err := measureStore(ctx, opts, vs, data, queries, truth)
		if err != nil {
			return nil, fmt.Errorf("vector bench: %s: %w", vs.Name, err)
		}
		rep.Stores = append(rep.Stores, *sr)
	}
	return rep, nil
}

func measureStore(ctx context.Context, opts VectorOptions, vs VectorStore, data, queries [][]float32, truth []map[string]bool) (*StoreVectorReport, error) {
	dir := opts.Dir
	if dir == "" || !vs.InProcess {
		tmp, err := os.MkdirTemp("", "ragway-vectorbench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	rep := &StoreVectorReport{Name: vs.Name, InProcess: vs.InProcess, FileBatchSize: 1000}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start, cpuStart := time.Now(), processCPU()
	st, err := vs.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	bar := newBar(len(data), "build "+vs.Name)
	for f := 0; f*rep.FileBatchSize < len(data); f++ {
		lo, hi := f*rep.FileBatchSize, min((f+1)*rep.FileBatchSize, len(data))
		chunks := make([]retrieval.Chunk, 0, hi-lo)
		for i := lo; i < hi; i++ {
			chunks = append(chunks, retrieval.Chunk{ID: strconv.Itoa(i), Index: i - lo, Vector: data[i]})
		}
		if err := st.ReplaceFile(ctx, "bench", "vectors", "f"+strconv.Itoa(f), chunks); err != nil {
			return nil, err
		}
		_ = bar.Add(hi - lo)
	}
	_ = bar.Finish()
	rep.Build = time.Since(start)
	rep.BuildCPU = processCPU() - cpuStart
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if vs.InProcess {
		rep.HeapBytes = int64(after.HeapAlloc) - int64(before.HeapAlloc)
		rep.BytesPer100k = rep.HeapBytes * 100_000 / int64(opts.Vectors)
	}
	if e, ok := st.(*embedded.Store); ok {
		rep.IndexBytes = e.Stats().IndexBytes
	}
	if a, ok := st.(interface{ Analyze(context.Context) error }); ok {
		if err := a.Analyze(ctx); err != nil {
			return nil, err
		}
	}
	for _, ef := range opts.EfSearch {
		row, err := measureEf(ctx, st, opts, ef, queries, truth)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// measureEf runs every query once, sequentially, at one beam width.
func measureEf(ctx context.Context, st retrieval.Store, opts VectorOptions, ef int, queries [][]float32, truth []map[string]bool) (VectorRow, error) {
	search := func(q retrieval.Query) ([]retrieval.Result, error) { return st.Search(ctx, q) }
	if e, ok := st.(efSearcher); ok {
		search = func(q retrieval.Query) ([]retrieval.Result, error) { return e.SearchEf(ctx, q, ef) }
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var hits int
	cpu0 := threadCPU()
	start := time.Now()
	for i, q := range queries {
		res, err := search(retrieval.Query{Tenant: "bench", Collection: "vectors", Vector: q, K: opts.K, Mode: retrieval.ModeVector})
		if err != nil {
			return VectorRow{}, fmt.Errorf("vector bench: %w", err)
		}
		for _, r := range res {
			if truth[i][r.ID] {
				hits++
			}
		}
	}
	el := time.Since(start)
	var perCPU float64
	if cpu := threadCPU() - cpu0; cpu > 0 {
		perCPU = float64(len(queries)) / cpu.Seconds()
	}
	return VectorRow{
		QueriesPerCPUSec: perCPU,
		EfSearch:         ef,
		Recall:           float64(hits) / float64(len(queries)*opts.K),
		QueriesPerSec:    float64(len(queries)) / el.Seconds(),
	}, nil
}

// exact returns the ids of the true k nearest neighbours by cosine.
func exact(data, queries [][]float32, k int) []map[string]bool {
	norms := make([]float64, len(data))
	for i, v := range data {
		norms[i] = math.Sqrt(dot64(v, v))
	}
	out := make([]map[string]bool, len(queries))
	type hit struct {
		id  int
		sim float64
	}
	for qi, q := range queries {
		qn := math.Sqrt(dot64(q, q))
		top := make([]hit, 0, k+1)
		for i, v := range data {
			s := dot64(q, v) / (qn * norms[i])
			if len(top) == k && s <= top[k-1].sim {
				continue
			}
			j := len(top)
			top = append(top, hit{i, s})
			for ; j > 0 && top[j-1].sim < s; j-- {
				top[j] = top[j-1]
			}
			top[j] = hit{i, s}
			if len(top) > k {
				top = top[:k]
			}
		}
		out[qi] = make(map[string]bool, k)
		for _, h := range top {
			out[qi][strconv.Itoa(h.id)] = true
		}
	}
	return out
}

func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// RunVectorBench runs the vector benchmark and prints its table to w.
func RunVectorBench(ctx context.Context, opts VectorOptions, w io.Writer) error {
	rep, err := MeasureVectors(ctx, opts)
	if err != nil {
		return err
	}
	o := rep.Options
	fmt.Fprintf(w, "vectors %d x %d dims, %d clusters (spread %.2f), %d queries, recall@%d vs exact, one client, one query at a time\n",
		o.Vectors, o.Dimensions, o.Clusters, o.Spread, o.Queries, o.K)
	for _, s := range rep.Stores {
		fmt.Fprintf(w, "%s: build %.1fs wall (%.0f vectors/s)", s.Name, s.Build.Seconds(), float64(o.Vectors)/s.Build.Seconds())
		if s.InProcess {
			fmt.Fprintf(w, ", %.1fs CPU, heap %.1f MiB (%.1f MiB per 100k vectors), graph estimate %.1f MiB",
				s.BuildCPU.Seconds(), mib(s.HeapBytes), mib(s.BytesPer100k), mib(s.IndexBytes))
		}
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	base := rep.Stores[0]
	fmt.Fprintf(tw, "store\tef_search\trecall@%d\tqueries/s\tqueries/cpu-s\tq/s vs %s\t\n", o.K, base.Name)
	for i := range base.Rows {
		for _, s := range rep.Stores {
			r := s.Rows[i]
			perCPU := "-"
			if s.InProcess {
				perCPU = fmt.Sprintf("%.0f", r.QueriesPerCPUSec)
			}
			fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.0f\t%s\t%.2fx\t\n", s.Name, r.EfSearch, r.Recall, r.QueriesPerSec, perCPU, r.QueriesPerSec/base.Rows[i].QueriesPerSec)
		}
	}
	return tw.Flush()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
