package embedded

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/ragway/ragway/retrieval"
)

// Log record operations.
const (
	opReplaceFile      byte = 1
	opDeleteCollection byte = 2
)

// record is one logged write.
type record struct {
	op         byte
	tenant     string
	collection string
	fileID     string
	chunks     []retrieval.Chunk
}

// Bounds on decoded records, so a corrupt log cannot demand huge
// allocations.
const (
	maxRecordBytes = 1 << 30
	maxDimensions  = 1 << 16
)

var errCorrupt = errors.New("corrupt log record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encode appends the record's payload to b.
func (r *record) encode(b []byte) ([]byte, error) {
	b = append(b, r.op)
	b = appendString(b, r.tenant)
	b = appendString(b, r.collection)
	if r.op == opDeleteCollection {
		return b, nil
	}
	b = appendString(b, r.fileID)
	b = binary.AppendUvarint(b, uint64(len(r.chunks)))
	for i := range r.chunks {
		ch := &r.chunks[i]
		b = appendString(b, ch.ID)
		b = appendString(b, ch.Filename)
		b = binary.AppendVarint(b, int64(ch.Index))
		b = appendString(b, ch.Text)
		b = appendString(b, ch.Title)
		b = appendString(b, ch.Heading)
		b = binary.AppendVarint(b, int64(ch.Page))
		var attrs []byte
		if len(ch.Attributes) > 0 {
			var err error
			if attrs, err = json.Marshal(ch.Attributes); err != nil {
				return nil, fmt.Errorf("encode attributes: %w", err)
			}
		}
		b = appendString(b, string(attrs))
		b = binary.AppendUvarint(b, uint64(len(ch.Vector)))
		for _, x := range ch.Vector {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return b, nil
}

// decoder reads a payload, failing with errCorrupt on any inconsistency.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || v > math.MaxInt32 || v < math.MinInt32 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes(d.uvarint())) }

func decodeRecord(p []byte) (*record, error) {
	if len(p) == 0 {
		return nil, errCorrupt
	}
	d := &decoder{b: p[1:]}
	r := &record{op: p[0], tenant: d.string(), collection: d.string()}
	switch r.op {
	case opDeleteCollection:
	case opReplaceFile:
		r.fileID = d.string()
		n := d.uvarint()
		if n > uint64(len(d.b)) { // every chunk takes at least one byte
			return nil, errCorrupt
		}
		r.chunks = make([]retrieval.Chunk, 0, n)
		for range n {
			ch, err := d.chunk()
			if err != nil {
				return nil, err
			}
			ch.Tenant, ch.Collection, ch.FileID = r.tenant, r.collection, r.fileID
			r.chunks = append(r.chunks, ch)
		}
	default:
		return nil, errCorrupt
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errCorrupt
	}
	return r, nil
}

func (d *decoder) chunk() (retrieval.Chunk, error) {
	ch := retrieval.Chunk{ID: d.string(), Filename: d.string(), Index: d.varint()}
	ch.Text, ch.Title, ch.Heading = d.string(), d.string(), d.string()
	ch.Page = d.varint()
	if attrs := d.bytes(d.uvarint()); len(attrs) > 0 {
		dec := json.NewDecoder(bytes.NewReader(attrs))
		if err := dec.Decode(&ch.Attributes); err != nil {
			return ch, errCorrupt
		}
	}
	dim := d.uvarint()
	if dim > maxDimensions {
		return ch, errCorrupt
	}
	raw := d.bytes(dim * 4)
	if d.err != nil {
		return ch, d.err
	}
	ch.Vector = make([]float32, dim)
	for i := range ch.Vector {
		ch.Vector[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[i*4:]))
	}
	return ch, nil
}
