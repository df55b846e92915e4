package ingestion

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunIngestsEveryDocument(t *testing.T) {
	var docs []Doc
	for i := 0; i < 30; i++ {
		docs = append(docs, Doc{ID: fmt.Sprint("d", i), Title: fmt.Sprint("Title ", i),
			Text: strings.Repeat(fmt.Sprintf("Sentence %d about topic %d. ", i, i%7), 20)})
	}
	rep, err := Run(context.Background(), docs, t.TempDir(), Options{Concurrency: 4, BatchSize: 7})
	require.NoError(t, err)
	require.Equal(t, 30, rep.Documents)
	require.Equal(t, 30, rep.Completed)
	require.Zero(t, rep.Failed)
	require.Positive(t, rep.Total)
	var out bytes.Buffer
	rep.Print(&out)
	require.Contains(t, out.String(), "30 completed")
}

func TestLoadCorpus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "corpus.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"_id":"1","title":"A","text":"x"}`+"\n"+`{"_id":"2","title":"B","text":"y"}`+"\n"), 0o600))
	docs, err := LoadCorpus(path, 0)
	require.NoError(t, err)
	require.Equal(t, []Doc{{"1", "A", "x"}, {"2", "B", "y"}}, docs)
	docs, err = LoadCorpus(path, 1)
	require.NoError(t, err)
	require.Len(t, docs, 1)
	require.NoError(t, os.WriteFile(path, []byte("{broken\n"), 0o600))
	_, err = LoadCorpus(path, 0)
	require.Error(t, err)
}
