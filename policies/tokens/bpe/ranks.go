package bpe

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
)

// noRank marks a pair of parts that does not form a token.
const noRank = math.MaxUint32

// maxRanks bounds the vocabulary size a rank file may declare.
const maxRanks = 1 << 22

// ranks maps token bytes to ranks. All token bytes live in one arena,
// ordered by rank; an open-addressing table of 64-bit slots (32 bits of hash,
// then rank+1; 0 is empty) finds them without allocating. The arena, the
// offsets and the slots share one read-only block outside the Go heap
// (tables.go).
type ranks struct {
	arena  []byte
	offs   []uint32 // token r is arena[offs[r]:offs[r+1]]
	slots  []uint64
	mask   uint64
	shift  uint
	single [256]uint32 // rank of each one-byte token
}

// parseRanks reads a tiktoken rank file: one "base64(token) rank" a line,
// ranks 0, 1, 2, ... in order.
func parseRanks(r io.Reader, sizeHint int) (*ranks, error) {
	t := &ranks{
		arena: make([]byte, 0, sizeHint/2),
		offs:  make([]uint32, 1, sizeHint/16+1),
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read ranks: %w", err)
		}
		if line = bytes.TrimRight(line, "\r\n"); len(line) > 0 {
			if perr := t.addLine(line); perr != nil {
				return nil, perr
			}
		}
		if err != nil {
			break
		}
	}
	n := len(t.offs) - 1
	if n < 256 {
		return nil, fmt.Errorf("parse ranks: %d tokens is too few", n)
	}
	// Move the tables out of the parse buffers into their own block.
	l := tablesLayout{slots: 1 << bits.Len(uint(2*n-1)), offs: len(t.offs), arena: len(t.arena)}
	tb := newTables(l.size())
	slots, offs, arena := tb.views(l)
	copy(offs, t.offs)
	copy(arena, t.arena)
	t.slots, t.offs, t.arena = slots, offs, arena
	if err := t.index(); err != nil {
		if tb.free != nil {
			tb.free(tb.mem)
		}
		return nil, err
	}
	if err := tb.seal(t); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *ranks) addLine(line []byte) error {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return fmt.Errorf("parse ranks: line %d has no rank", len(t.offs))
	}
	rank, ok := parseUint(line[sp+1:])
	if !ok || rank != uint64(len(t.offs)-1) || rank >= maxRanks {
		return fmt.Errorf("parse ranks: line %d: rank %q is not %d", len(t.offs), line[sp+1:], len(t.offs)-1)
	}
	b64 := line[:sp]
	start := len(t.arena)
	need := base64.StdEncoding.DecodedLen(len(b64))
	if cap(t.arena)-start < need {
		grown := make([]byte, start, 2*cap(t.arena)+need)
		copy(grown, t.arena)
		t.arena = grown
	}
	m, err := base64.StdEncoding.Decode(t.arena[start:start+need], b64)
	if err != nil {
		return fmt.Errorf("parse ranks: line %d: %w", len(t.offs), err)
	}
	if m == 0 || start+m > math.MaxUint32 {
		return fmt.Errorf("parse ranks: line %d: bad token", len(t.offs))
	}
	t.arena = t.arena[:start+m]
	t.offs = append(t.offs, uint32(start+m))
	return nil
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// index fills the hash table t.slots (zeroed, a power of two at least
// twice the vocabulary, so at most half full) and the one-byte ranks.
func (t *ranks) index() error {
	n := len(t.offs) - 1
	t.mask = uint64(len(t.slots) - 1)
	t.shift = uint(64 - bits.Len(uint(len(t.slots)-1)))
	for r := range n {
		tok := t.arena[t.offs[r]:t.offs[r+1]]
		h := hashBytes(tok)
		i := h >> t.shift
		for t.slots[i] != 0 {
			if other := uint32(t.slots[i]) - 1; uint32(t.slots[i]>>32) == uint32(h) && bytes.Equal(t.token(other), tok) {
				return fmt.Errorf("index ranks: token %q has ranks %d and %d", tok, other, r)
			}
			i = (i + 1) & t.mask
		}
		t.slots[i] = uint64(uint32(h))<<32 | uint64(r+1)
	}
	for b := range 256 {
		r, ok := t.lookup(string([]byte{byte(b)}))
		if !ok {
			return fmt.Errorf("index ranks: byte %#x has no rank", b)
		}
		t.single[b] = r
	}
	return nil
}

// token returns the bytes of token r. The slice aliases the tables, which
// are unmapped once t is collected: a caller that keeps it past its last use
// of t (a Decode returning it, say) must copy it or keep t alive.
func (t *ranks) token(r uint32) []byte { return t.arena[t.offs[r]:t.offs[r+1]] }

// lookup returns the rank of s, if s is a token.
func (t *ranks) lookup(s string) (uint32, bool) {
	h := hashString(s)
	tag := uint32(h)
	for i := h >> t.shift; ; i = (i + 1) & t.mask {
		sl := t.slots[i]
		if sl == 0 {
			return 0, false
		}
		if uint32(sl>>32) != tag {
			continue
		}
		r := uint32(sl) - 1
		if string(t.arena[t.offs[r]:t.offs[r+1]]) == s {
			return r, true
		}
	}
}

// rank returns the rank of s, or noRank.
func (t *ranks) rank(s string) uint32 {
	if r, ok := t.lookup(s); ok {
		return r
	}
	return noRank
}

const (
	hashK0 = 0x9e3779b97f4a7c15
	hashK1 = 0xbf58476d1ce4e5b9
	hashK2 = 0x94d049bb133111eb
)

func hashString(s string) uint64 {
	h := uint64(len(s)) * hashK0
	for len(s) >= 8 {
		v := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = (h ^ v) * hashK1
		h ^= h >> 31
		s = s[8:]
	}
	var v uint64
	for i := len(s) - 1; i >= 0; i-- {
		v = v<<8 | uint64(s[i])
	}
	h = (h ^ v) * hashK1
	h ^= h >> 32
	h *= hashK2
	h ^= h >> 29
	return h
}

func hashBytes(b []byte) uint64 { return hashString(string(b)) }

// openRanks opens a compiled-in rank file.
func openRanks(fsys fs.FS, name string) (*ranks, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open ranks: %w", err)
	}
	defer f.Close()
	size := 1 << 20
	if st, err := f.Stat(); err == nil && st.Size() > 0 && st.Size() < 1<<30 {
		size = int(st.Size())
	}
	return parseRanks(f, size)
}
