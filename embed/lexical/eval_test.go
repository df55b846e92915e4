package lexical

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// beirSet is a retrieval benchmark in the BEIR layout: corpus.jsonl,
// queries.jsonl and a qrels TSV (query-id, corpus-id, score, with a header).
type beirSet struct {
	docIDs   []string
	docs     []string
	queryIDs []string
	queries  []string
	qrels    map[string]map[string]int
}

// loadBEIR reads a BEIR data set from its three files. Only queries that
// have judgements are kept.
func loadBEIR(corpusPath, queriesPath, qrelsPath string) (*beirSet, error) {
	set := &beirSet{qrels: map[string]map[string]int{}}
	type record struct {
		ID    string `json:"_id"`
		Title string `json:"title"`
		Text  string `json:"text"`
	}
	qf, err := os.Open(qrelsPath)
	if err != nil {
		return nil, fmt.Errorf("open qrels: %w", err)
	}
	defer qf.Close()
	sc := bufio.NewScanner(qf)
	for line := 0; sc.Scan(); line++ {
		f := strings.Split(sc.Text(), "\t")
		if line == 0 || len(f) != 3 {
			continue
		}
		var score int
		if _, err := fmt.Sscan(f[2], &score); err != nil {
			return nil, fmt.Errorf("qrels line %d: %w", line+1, err)
		}
		if set.qrels[f[0]] == nil {
			set.qrels[f[0]] = map[string]int{}
		}
		set.qrels[f[0]][f[1]] = score
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read qrels: %w", err)
	}
	read := func(path string, fn func(r record)) error {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer f.Close()
		dec := json.NewDecoder(f)
		for dec.More() {
			var r record
			if err := dec.Decode(&r); err != nil {
				return fmt.Errorf("decode %s: %w", path, err)
			}
			fn(r)
		}
		return nil
	}
	err = read(corpusPath, func(r record) {
		set.docIDs = append(set.docIDs, r.ID)
		set.docs = append(set.docs, strings.TrimSpace(r.Title+"\n"+r.Text))
	})
	if err != nil {
		return nil, err
	}
	err = read(queriesPath, func(r record) {
		if _, ok := set.qrels[r.ID]; ok {
			set.queryIDs = append(set.queryIDs, r.ID)
			set.queries = append(set.queries, r.Text)
		}
	})
	return set, err
}

// ndcgAt10 embeds the corpus and queries with e, ranks documents by cosine
// similarity (brute force) and returns the mean nDCG@10 over the queries.
func ndcgAt10(ctx context.Context, e *Embedder, set *beirSet) (float64, error) {
	docs, err := e.Embed(ctx, set.docs)
	if err != nil {
		return 0, err
	}
	queries, err := e.Embed(ctx, set.queries)
	if err != nil {
		return 0, err
	}
	type hit struct {
		doc   int
		score float32
	}
	hits := make([]hit, len(docs))
	var total float64
	for qi, q := range queries {
		for di, d := range docs {
			hits[di] = hit{di, dot(q, d)}
		}
		slices.SortStableFunc(hits, func(a, b hit) int {
			switch {
			case a.score > b.score:
				return -1
			case a.score < b.score:
				return 1
			}
			return 0
		})
		rels := set.qrels[set.queryIDs[qi]]
		var dcg float64
		for rank := 0; rank < 10 && rank < len(hits); rank++ {
			dcg += float64(rels[set.docIDs[hits[rank].doc]]) / math.Log2(float64(rank+2))
		}
		ideal := make([]int, 0, len(rels))
		for _, r := range rels {
			ideal = append(ideal, r)
		}
		slices.Sort(ideal)
		slices.Reverse(ideal)
		var idcg float64
		for rank := 0; rank < 10 && rank < len(ideal); rank++ {
			idcg += float64(ideal[rank]) / math.Log2(float64(rank+2))
		}
		if idcg > 0 {
			total += dcg / idcg
		}
	}
	if len(queries) == 0 {
		return 0, nil
	}
	return total / float64(len(queries)), nil
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestNDCGAt10(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	corpus := write("corpus.jsonl", `{"_id":"d1","title":"Aspirin","text":"Aspirin lowers the risk of heart attack."}
{"_id":"d2","title":"Volcanoes","text":"Lava flows from erupting volcanoes."}
{"_id":"d3","title":"Tea","text":"Green tea contains catechins."}
`)
	queries := write("queries.jsonl", `{"_id":"q1","text":"does aspirin prevent heart attacks"}
{"_id":"q2","text":"erupting volcano lava"}
{"_id":"q3","text":"unjudged query"}
`)
	qrels := write("qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")

	set, err := loadBEIR(corpus, queries, qrels)
	require.NoError(t, err)
	require.Len(t, set.docs, 3)
	require.Equal(t, []string{"q1", "q2"}, set.queryIDs)

	score, err := ndcgAt10(context.Background(), New(Options{}), set)
	require.NoError(t, err)
	require.InDelta(t, 1.0, score, 1e-9, "each query's only relevant document ranks first")

	// Judging an irrelevant document as the answer lowers the score.
	set.qrels["q2"] = map[string]int{"d3": 1}
	score, err = ndcgAt10(context.Background(), New(Options{}), set)
	require.NoError(t, err)
	require.Less(t, score, 0.9)
	require.Greater(t, score, 0.5)
}
