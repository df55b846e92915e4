package embedded

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

func TestRecordRoundTrip(t *testing.T) {
	r := &record{op: opReplaceFile, tenant: "t", collection: "c", fileID: "f", chunks: []retrieval.Chunk{{
		ID: "id", Filename: "a.txt", Index: 3, Text: "text", Title: "T", Heading: "H", Page: -1,
		Vector: []float32{1, -2.5}, Attributes: map[string]any{"s": "v", "n": 1.5, "b": true},
	}}}
	b, err := r.encode(nil)
	require.NoError(t, err)
	got, err := decodeRecord(b)
	require.NoError(t, err)
	r.chunks[0].Tenant, r.chunks[0].Collection, r.chunks[0].FileID = "t", "c", "f"
	require.Equal(t, r, got)
	for i := range b {
		_, err := decodeRecord(b[:i])
		require.Error(t, err, "truncated at %d", i)
	}
	del := &record{op: opDeleteCollection, tenant: "t", collection: "c"}
	b, err = del.encode(nil)
	require.NoError(t, err)
	got, err = decodeRecord(b)
	require.NoError(t, err)
	require.Equal(t, del, got)
}

func FuzzDecodeRecord(f *testing.F) {
	r := &record{op: opReplaceFile, tenant: "t", collection: "c", fileID: "f", chunks: []retrieval.Chunk{{ID: "i", Text: "x", Vector: []float32{1}}}}
	b, _ := r.encode(nil)
	f.Add(b)
	f.Add([]byte{opDeleteCollection, 1, 't', 1, 'c'})
	f.Add([]byte{opReplaceFile, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := decodeRecord(p)
		if err != nil {
			return
		}
		b, err := r.encode(nil)
		require.NoError(t, err)
		_, err = decodeRecord(b)
		require.NoError(t, err)
	})
}
