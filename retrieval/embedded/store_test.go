package embedded_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
	"github.com/ragway/ragway/retrieval/retrievaltest"
)

func open(t *testing.T, dir string) retrieval.Store {
	t.Helper()
	s, err := embedded.Open(context.Background(), dir, embedded.Options{})
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	retrievaltest.Run(t, open)
}

func TestConformanceRRF(t *testing.T) {
	retrievaltest.Run(t, func(t *testing.T, dir string) retrieval.Store {
		s, err := embedded.Open(context.Background(), dir, embedded.Options{Fusion: embedded.FusionRRF, NoSync: true})
		require.NoError(t, err)
		return s
	})
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	ch := retrievaltest.Chunk("f1", 0, "kept", retrievaltest.Vec(0, 0), nil)
	require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f1", []retrieval.Chunk{ch}))
	require.NoError(t, s.Close())
	path := filepath.Join(dir, "embedded.log")
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	tails := map[string][]byte{
		"partial header":  {1, 2, 3},
		"huge length":     {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1},
		"bad checksum":    {3, 0, 0, 0, 1, 2, 3, 4, 1, 2, 3},
		"partial payload": {100, 0, 0, 0, 1, 2, 3, 4, 1, 2},
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, append(append([]byte(nil), good...), tail...), 0o600))
			s := open(t, dir)
			res, err := s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "kept", K: 5, Mode: retrieval.ModeLexical})
			require.NoError(t, err)
			require.Len(t, res, 1)
			// Writes after the cut survive another reopen.
			ch := retrievaltest.Chunk("f2", 0, "kept too", retrievaltest.Vec(1, 0), nil)
			require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f2", []retrieval.Chunk{ch}))
			require.NoError(t, s.Close())
			s = open(t, dir)
			defer s.Close()
			res, err = s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "kept", K: 5, Mode: retrieval.ModeLexical})
			require.NoError(t, err)
			require.Len(t, res, 2)
			st, err := os.Stat(path)
			require.NoError(t, err)
			require.Greater(t, st.Size(), int64(len(good)))
		})
	}
}

func TestNotALog(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "embedded.log"), []byte("something else entirely, longer than the header"), 0o600))
	_, err := embedded.Open(context.Background(), dir, embedded.Options{})
	require.Error(t, err)
}

func TestLogRewrite(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	big := make([]retrieval.Chunk, 50)
	for round := range 60 {
		for i := range big {
			big[i] = retrievaltest.Chunk("f", i, "round text "+strings.Repeat("padding ", 100), retrievaltest.Vec(i, float64(round)*0.01), map[string]any{"round": float64(round)})
		}
		require.NoError(t, s.ReplaceFile(ctx, "t", "c", "f", big))
	}
	require.NoError(t, s.Close())
	path := filepath.Join(dir, "embedded.log")
	before, err := os.Stat(path)
	require.NoError(t, err)
	s = open(t, dir)
	after, err := os.Stat(path)
	require.NoError(t, err)
	require.Less(t, after.Size(), before.Size()/10, "the log keeps only live files")
	res, err := s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "round", K: 100, Mode: retrieval.ModeLexical})
	require.NoError(t, err)
	require.Len(t, res, 50)
	for _, r := range res {
		require.InDelta(t, 59.0, r.Attributes["round"], 0)
	}
	require.NoError(t, s.Close())
}

func TestOneProcessPerDir(t *testing.T) {
	dir := t.TempDir()
	s, err := embedded.Open(context.Background(), dir, embedded.Options{})
	require.NoError(t, err)
	_, err = embedded.Open(context.Background(), dir, embedded.Options{})
	require.ErrorContains(t, err, "open in another process")
	require.NoError(t, s.Close())
	s, err = embedded.Open(context.Background(), dir, embedded.Options{})
	require.NoError(t, err, "closing releases the lock")
	require.NoError(t, s.Close())
}
