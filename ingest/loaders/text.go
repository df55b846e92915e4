package loaders

import (
	"bytes"
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/ragway/ragway/ingest"
)

// maxControlRatio is the share of control characters above which bytes are
// taken for binary data rather than text.
const maxControlRatio = 0.05

// Text loads plain text: one section.
type Text struct {
	Limits Limits
}

var _ ingest.Loader = (*Text)(nil)

// Load implements ingest.Loader.
func (l *Text) Load(ctx context.Context, data []byte) (*ingest.Document, error) {
	return guard(ctx, data, l.Limits, "text", func(ctx context.Context, b *builder) error {
		b.typ = ingest.TypeText
		s, err := decodeText(data)
		if err != nil {
			return err
		}
		return b.add("", 0, s)
	})
}

var errNotText = ingest.Invalid(ingest.CodeInvalid, "file is not valid text (binary data or an unknown encoding)")

// decodeText returns data as valid UTF-8 with "\n" line ends: UTF-8 with or
// without a BOM, UTF-16 (by BOM, or by the pattern of zero bytes), else
// Windows-1252 (a superset of the printable Latin-1). Bytes that are mostly
// control characters are not text.
func decodeText(data []byte) (string, error) {
	var s string
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		s = string(data[3:])
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		s = decodeUTF16(data, xunicode.UseBOM, xunicode.LittleEndian)
	case looksUTF16(data, 1):
		s = decodeUTF16(data, xunicode.IgnoreBOM, xunicode.LittleEndian)
	case looksUTF16(data, 0):
		s = decodeUTF16(data, xunicode.IgnoreBOM, xunicode.BigEndian)
	case utf8.Valid(data):
		s = string(data)
	default:
		if controlRatio(string(data), true) > maxControlRatio {
			return "", errNotText
		}
		out, _, err := transform.String(charmap.Windows1252.NewDecoder(), string(data))
		if err != nil {
			return "", errNotText
		}
		s = out
	}
	if controlRatio(s, false) > maxControlRatio {
		return "", errNotText
	}
	return normaliseText(s), nil
}

func decodeUTF16(data []byte, bom xunicode.BOMPolicy, order xunicode.Endianness) string {
	out, _, err := transform.Bytes(xunicode.UTF16(order, bom).NewDecoder(), data)
	if err != nil {
		return ""
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// looksUTF16 reports whether most bytes at the odd (zeroAt 1: little
// endian) or even (zeroAt 0: big endian) offsets are zero and the others
// are not: ASCII-range text in UTF-16 without a BOM.
func looksUTF16(data []byte, zeroAt int) bool {
	n := min(len(data), 4096) &^ 1
	if n < 4 {
		return false
	}
	zeros, other := 0, 0
	for i := 0; i < n; i += 2 {
		if data[i+zeroAt] == 0 {
			zeros++
		}
		if data[i+1-zeroAt] == 0 {
			other++
		}
	}
	pairs := n / 2
	return zeros*10 >= pairs*9 && other*10 <= pairs
}

// controlRatio is the share of control characters in (a prefix of) s,
// other than tab, line feed, form feed and carriage return. With raw set,
// s is taken byte by byte.
func controlRatio(s string, raw bool) float64 {
	if len(s) > 64<<10 {
		s = s[:64<<10]
	}
	total, bad := 0, 0
	if raw {
		for i := 0; i < len(s); i++ {
			c := s[i]
			total++
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7f {
				bad++
			}
		}
	} else {
		for _, r := range s {
			total++
			if r == utf8.RuneError || (unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\f' && r != '\r') {
				bad++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(bad) / float64(total)
}

// normaliseText drops a BOM, NULs and other C0 controls, and turns CRLF and
// CR into LF.
func normaliseText(s string) string {
	s = strings.TrimPrefix(s, "\uFEFF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' {
			return r
		}
		if r == '\f' {
			return '\n'
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}
