package retrieval

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/ragway/ragway/embed/lexical"
	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
)

// SciFactOptions configure the quality benchmark. Zero values give the
// defaults of the embedded store and the lexical embedder.
type SciFactOptions struct {
	// Split names the judgements used (default "test").
	Split string
	// Dimensions of the lexical embedder (default lexical.DefaultDimensions).
	Dimensions int
	// Store overrides the embedded store's options (BM25, fusion).
	Store embedded.Options
	// OpenStore, when set, opens the store measured instead of a temporary
	// embedded one; it must be empty, and Close releases it.
	OpenStore func(ctx context.Context) (retrieval.Store, error)
}

// ModeScore is the quality of one search mode.
type ModeScore struct {
	Mode          retrieval.Mode
	NDCG10        float64
	Recall100     float64
	QueriesPerSec float64
}

// SciFactReport is the outcome of the quality benchmark.
type SciFactReport struct {
	Documents int
	Queries   int
	Index     time.Duration
	Scores    []ModeScore
}

// MeasureSciFact indexes the data set in dataDir into a temporary embedded
// store, one chunk per document (title and text), and scores each mode.
func MeasureSciFact(ctx context.Context, dataDir string, opts SciFactOptions) (*SciFactReport, error) {
	d, err := LoadBEIR(dataDir, opts.Split)
	if err != nil {
		return nil, err
	}
	return MeasureDataset(ctx, d, opts)
}

// MeasureDataset is MeasureSciFact over a loaded data set.
func MeasureDataset(ctx context.Context, d *Dataset, opts SciFactOptions) (*SciFactReport, error) {
	dir, err := os.MkdirTemp("", "ragway-beir-")
	if err != nil {
		return nil, fmt.Errorf("measure beir: %w", err)
	}
	defer os.RemoveAll(dir)
	so := opts.Store
	so.NoSync = true
	var st retrieval.Store
	if opts.OpenStore != nil {
		st, err = opts.OpenStore(ctx)
	} else {
		st, err = embedded.Open(ctx, dir, so)
	}
	if err != nil {
		return nil, fmt.Errorf("measure beir: %w", err)
	}
	defer st.Close()
	emb := lexical.New(lexical.Options{Dimensions: opts.Dimensions})
	rep := &SciFactReport{Documents: len(d.Docs), Queries: len(d.Queries)}
	start := time.Now()
	vecs, err := emb.Embed(ctx, d.Docs)
	if err != nil {
		return nil, fmt.Errorf("measure beir: %w", err)
	}
	for i, id := range d.DocIDs {
		ch := retrieval.Chunk{ID: id, Filename: id, Text: d.Docs[i], Vector: vecs[i]}
		if err := st.ReplaceFile(ctx, "beir", "corpus", id, []retrieval.Chunk{ch}); err != nil {
			return nil, fmt.Errorf("measure beir: %w", err)
		}
	}
	if a, ok := st.(interface{ Analyze(context.Context) error }); ok {
		// Databases plan queries from statistics a bulk load leaves stale.
		if err := a.Analyze(ctx); err != nil {
			return nil, fmt.Errorf("measure beir: %w", err)
		}
	}
	rep.Index = time.Since(start)
	qvecs, err := emb.Embed(ctx, d.Queries)
	if err != nil {
		return nil, fmt.Errorf("measure beir: %w", err)
	}
	for _, mode := range []retrieval.Mode{retrieval.ModeLexical, retrieval.ModeVector, retrieval.ModeHybrid} {
		ms := ModeScore{Mode: mode}
		start := time.Now()
		for i, qid := range d.QueryIDs {
			res, err := st.Search(ctx, retrieval.Query{
				Tenant: "beir", Collection: "corpus", Text: d.Queries[i], Vector: qvecs[i], K: 100, Mode: mode,
			})
			if err != nil {
				return nil, fmt.Errorf("measure beir: %w", err)
			}
			ids := make([]string, len(res))
			for j, r := range res {
				ids[j] = r.ID
			}
			ms.NDCG10 += NDCG(ids, d.Qrels[qid], 10)
			ms.Recall100 += Recall(ids, d.Qrels[qid], 100)
		}
		if n := float64(len(d.QueryIDs)); n > 0 {
			ms.NDCG10 /= n
			ms.Recall100 /= n
			ms.QueriesPerSec = n / time.Since(start).Seconds()
		}
		rep.Scores = append(rep.Scores, ms)
	}
	return rep, nil
}

// NDCG is the normalised discounted cumulative gain of a ranking at k,
// with graded relevance from rels.
func NDCG(ranked []string, rels map[string]int, k int) float64 {
	var dcg float64
	for i := 0; i < k && i < len(ranked); i++ {
		dcg += float64(rels[ranked[i]]) / math.Log2(float64(i+2))
	}
	ideal := make([]int, 0, len(rels))
	for _, r := range rels {
		ideal = append(ideal, r)
	}
	slices.Sort(ideal)
	slices.Reverse(ideal)
	var idcg float64
	for i := 0; i < k && i < len(ideal); i++ {
		idcg += float64(ideal[i]) / math.Log2(float64(i+2))
	}
	if idcg <= 0 {
		return 0
	}
	return dcg / idcg
}

// Recall is the share of relevant documents (relevance above 0) found in
// the first k of a ranking.
func Recall(ranked []string, rels map[string]int, k int) float64 {
	relevant := 0
	for _, r := range rels {
		if r > 0 {
			relevant++
		}
	}
	if relevant == 0 {
		return 0
	}
	found := 0
	for i := 0; i < k && i < len(ranked); i++ {
		if rels[ranked[i]] > 0 {
			found++
		}
	}
	return float64(found) / float64(relevant)
}

// RunSciFact runs the quality benchmark on the BEIR data set in dataDir
// and prints its table to w.
func RunSciFact(ctx context.Context, dataDir string, opts SciFactOptions, w io.Writer) error {
	rep, err := MeasureSciFact(ctx, dataDir, opts)
	if err != nil {
		return err
	}
	return rep.Print(w)
}

// Print writes the report as a table.
func (r *SciFactReport) Print(w io.Writer) error {
	fmt.Fprintf(w, "%d documents (one chunk each: title and text), %d queries, indexed in %.1fs (%.0f docs/s)\n",
		r.Documents, r.Queries, r.Index.Seconds(), float64(r.Documents)/r.Index.Seconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "mode\tnDCG@10\tRecall@100\tqueries/s\t\n")
	for _, s := range r.Scores {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.0f\t\n", s.Mode, s.NDCG10, s.Recall100, s.QueriesPerSec)
	}
	return tw.Flush()
}
