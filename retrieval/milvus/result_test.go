package milvus

import (
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

// resultSet builds what the client returns for rows of chunks.
func resultSet(t *testing.T, chunks []retrieval.Chunk, scores []float32, withVector bool) milvusclient.ResultSet {
	t.Helper()
	rows, dim, err := toRows("t", "c", "f", chunks)
	require.NoError(t, err)
	cols := columns("t", "c", "f", dim, rows)
	var fields milvusclient.DataSet
	for _, c := range cols {
		if c.Name() == fieldVector && !withVector {
			continue
		}
		fields = append(fields, c)
	}
	return milvusclient.ResultSet{ResultCount: len(chunks), Fields: fields, Scores: scores}
}

func sampleChunks() []retrieval.Chunk {
	return []retrieval.Chunk{
		{ID: "c0", FileID: "f", Filename: "f.txt", Index: 0, Text: "zero", Vector: []float32{1, 0, 0}, Title: "T", Heading: "H", Page: 1,
			Attributes: map[string]any{"lang": "en", "n": 2.5, "ok": true, "<k>": "a&b"}},
		{ID: "c1", FileID: "f", Filename: "f.txt", Index: 1, Text: "one", Vector: []float32{0, 1, 0}, Page: 2},
		{ID: "c2", FileID: "f", Filename: "f.txt", Index: 2, Text: "two", Vector: []float32{0, 0, 1}, Page: 3},
	}
}

func TestToResults(t *testing.T) {
	chunks := sampleChunks()
	rs := resultSet(t, chunks, []float32{0.5, 0.9, 0.1}, false)
	res, err := toResults(rs, "t", "c")
	require.NoError(t, err)
	require.Len(t, res, 3)
	require.Equal(t, []string{"c1", "c0", "c2"}, []string{res[0].ID, res[1].ID, res[2].ID}, "best first")
	require.InDelta(t, 0.9, res[0].Score, 1e-6)
	got := res[1]
	want := chunks[0]
	want.Tenant, want.Collection, want.Vector = "t", "c", nil
	require.Equal(t, want, got.Chunk)
	require.Nil(t, res[0].Attributes, "no attributes read back as nil")

	_, err = toResults(milvusclient.ResultSet{ResultCount: 3, Fields: rs.Fields, Scores: []float32{1}}, "t", "c")
	require.Error(t, err, "fewer scores than rows")
	var without milvusclient.DataSet
	for _, c := range rs.Fields {
		if c.Name() != fieldChunkID {
			without = append(without, c)
		}
	}
	missing := milvusclient.ResultSet{ResultCount: 3, Fields: without, Scores: rs.Scores}
	_, err = toResults(missing, "t", "c")
	require.Error(t, err, "a missing field")
	empty, err := toResults(milvusclient.ResultSet{}, "t", "c")
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestToChunksWithVectors(t *testing.T) {
	chunks := sampleChunks()
	got, err := toChunks(resultSet(t, chunks, nil, true), true)
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i := range chunks {
		require.Equal(t, chunks[i].Vector, got[i].Vector)
		require.Equal(t, chunks[i].Text, got[i].Text)
	}
	_, err = toChunks(resultSet(t, chunks, nil, false), true)
	require.Error(t, err, "vector asked but not returned")
}

func TestAttributes(t *testing.T) {
	b, err := encodeAttributes(map[string]any{"<k>": "a&b", "n": 1.0})
	require.NoError(t, err)
	require.Equal(t, `{"<k>":"a&b","n":1}`, string(b), "keys stored as written, no HTML escaping")
	b, err = encodeAttributes(nil)
	require.NoError(t, err)
	require.Equal(t, "{}", string(b))
	_, err = encodeAttributes(map[string]any{"big": strings.Repeat("x", maxAttrsBytes)})
	require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
	_, err = encodeAttributes(map[string]any{"f": func() {}})
	require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
	for raw, want := range map[string]map[string]any{`{}`: nil, `null`: nil, ``: nil, `{"a":1}`: {"a": 1.0}} {
		got, err := decodeAttributes([]byte(raw))
		require.NoError(t, err)
		require.Equal(t, want, got, raw)
	}
	_, err = decodeAttributes([]byte(`[1]`))
	require.Error(t, err)
	_, err = decodeAttributes(42)
	require.Error(t, err)
}

func TestToRows(t *testing.T) {
	chunks := sampleChunks()
	rows, dim, err := toRows("t", "c", "f", chunks)
	require.NoError(t, err)
	require.Equal(t, 3, dim)
	require.Len(t, rows, 3)
	require.Equal(t, primaryKey("f", "c0"), rows[0].pk)
	require.Equal(t, "t", rows[0].chunk.Tenant)

	dup := append(sampleChunks(), retrieval.Chunk{ID: "c0", Text: "again", Vector: []float32{1, 1, 1}})
	rows, _, err = toRows("t", "c", "f", dup)
	require.NoError(t, err)
	require.Len(t, rows, 3, "a repeated id keeps one row")
	require.Equal(t, "again", rows[0].chunk.Text)

	none, dim, err := toRows("t", "c", "f", nil)
	require.NoError(t, err)
	require.Zero(t, dim)
	require.Empty(t, none)

	bad := map[string]func(c *retrieval.Chunk){
		"no id":            func(c *retrieval.Chunk) { c.ID = "" },
		"other dim":        func(c *retrieval.Chunk) { c.Vector = []float32{1} },
		"long text":        func(c *retrieval.Chunk) { c.Text = strings.Repeat("x", maxTextBytes+1) },
		"invalid utf-8":    func(c *retrieval.Chunk) { c.Title = "\xff" },
		"bad attribute":    func(c *retrieval.Chunk) { c.Attributes = map[string]any{"c": make(chan int)} },
		"long chunk id":    func(c *retrieval.Chunk) { c.ID = strings.Repeat("i", maxRefBytes+1) },
		"no vector at all": func(c *retrieval.Chunk) {},
	}
	for name, edit := range bad {
		t.Run(name, func(t *testing.T) {
			cs := sampleChunks()
			if name == "no vector at all" {
				for i := range cs {
					cs[i].Vector = nil
				}
			}
			edit(&cs[1])
			_, _, err := toRows("t", "c", "f", cs)
			require.ErrorIs(t, err, retrieval.ErrInvalidQuery)
		})
	}
}

func TestColumnsAndBatches(t *testing.T) {
	rows, dim, err := toRows("t", "c", "f", sampleChunks())
	require.NoError(t, err)
	cols := columns("t", "c", "f", dim, rows)
	byName := map[string]column.Column{}
	for _, c := range cols {
		require.Equal(t, 3, c.Len(), c.Name())
		byName[c.Name()] = c
	}
	require.NotContains(t, byName, fieldSparse, "the server computes the BM25 field")
	v, ok := byName[fieldVector].(*column.ColumnFloatVector)
	require.True(t, ok)
	require.Equal(t, 3, v.Dim())

	var many []row
	for range 1300 {
		many = append(many, rows[0])
	}
	bs := batches(many, dim)
	require.Len(t, bs, 3)
	require.Len(t, bs[0], maxBatchRows)
	big := rows[0]
	big.chunk.Text = strings.Repeat("x", 60000)
	var heavy []row
	for range 400 {
		heavy = append(heavy, big)
	}
	total := 0
	for _, b := range batches(heavy, dim) {
		require.LessOrEqual(t, len(b)*60000, maxBatchBytes)
		total += len(b)
	}
	require.Equal(t, 400, total)
	require.Empty(t, batches(nil, dim))
}
