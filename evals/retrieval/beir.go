// Package retrieval holds the retrieval benchmarks behind the benchmark
// commands: quality on a BEIR data set (SciFact) for lexical, vector and
// hybrid search in the embedded store, and the speed and recall of its
// vector index on generated clustered vectors.
package retrieval

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Limits on a BEIR data set read from disk.
const (
	maxLineBytes = 16 << 20
	maxDocuments = 10_000_000
)

// Dataset is a retrieval benchmark in the BEIR layout: corpus.jsonl,
// queries.jsonl and qrels/<split>.tsv.
type Dataset struct {
	DocIDs []string
	// Docs are title and text joined by a newline.
	Docs     []string
	QueryIDs []string
	Queries  []string
	// Qrels maps query id to document id to graded relevance.
	Qrels map[string]map[string]int
}

// LoadBEIR reads a BEIR data set from dir, keeping the queries judged in
// the split (test, train, dev).
func LoadBEIR(dir, split string) (*Dataset, error) {
	if split == "" {
		split = "test"
	}
	if strings.ContainsAny(split, `/\`) || split == ".." {
		return nil, fmt.Errorf("load beir: bad split %q", split)
	}
	d := &Dataset{}
	qf, err := os.Open(filepath.Join(dir, "qrels", split+".tsv"))
	if err != nil {
		return nil, fmt.Errorf("load beir: %w", err)
	}
	defer qf.Close()
	if d.Qrels, err = ParseQrels(qf); err != nil {
		return nil, fmt.Errorf("load beir: %w", err)
	}
	type record struct {
		ID    string `json:"_id"`
		Title string `json:"title"`
		Text  string `json:"text"`
	}
	err = readJSONL(filepath.Join(dir, "corpus.jsonl"), func(line []byte) error {
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		if len(d.DocIDs) >= maxDocuments {
			return errors.New("too many documents")
		}
		d.DocIDs = append(d.DocIDs, r.ID)
		d.Docs = append(d.Docs, strings.TrimSpace(r.Title+"\n"+r.Text))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load beir: %w", err)
	}
	err = readJSONL(filepath.Join(dir, "queries.jsonl"), func(line []byte) error {
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		if _, ok := d.Qrels[r.ID]; ok {
			d.QueryIDs = append(d.QueryIDs, r.ID)
			d.Queries = append(d.Queries, r.Text)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load beir: %w", err)
	}
	return d, nil
}

// ParseQrels reads judgements as TSV lines query-id, corpus-id, score; a
// header line and blank lines are skipped.
func ParseQrels(r io.Reader) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("qrels line %d: want 3 fields, got %d", n, len(f))
		}
		score, err := strconv.Atoi(f[2])
		if err != nil {
			if n == 1 {
				continue // header
			}
			return nil, fmt.Errorf("qrels line %d: bad score %q", n, f[2])
		}
		if out[f[0]] == nil {
			out[f[0]] = map[string]int{}
		}
		out[f[0]][f[1]] = score
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read qrels: %w", err)
	}
	return out, nil
}

func readJSONL(path string, fn func(line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("%s line %d: %w", filepath.Base(path), n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return nil
}
