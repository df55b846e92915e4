package loaders

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/ledongthuc/pdf"

	"github.com/ragway/ragway/ingest"
)

// PDF loads the text layer of a PDF, one section per page with Page set.
// Encrypted PDFs and PDFs without a text layer are refused.
type PDF struct {
	Limits Limits
}

var _ ingest.Loader = (*PDF)(nil)

// Messages of refused PDFs.
const (
	msgEncryptedPDF = "encrypted PDF is not supported"
	msgNoTextLayer  = "no text layer (scanned or image-only PDF)"
	msgMalformedPDF = "malformed or truncated PDF"
)

// maxParentDepth bounds the chain of page tree parents, which the PDF
// library follows without a bound.
const maxParentDepth = 64

// Load implements ingest.Loader.
func (l *PDF) Load(ctx context.Context, data []byte) (*ingest.Document, error) {
	lim := l.Limits.withDefaults()
	return guard(ctx, data, lim, "PDF", func(ctx context.Context, b *builder) (err error) {
		b.typ = ingest.TypePDF
		defer func() {
			if v := recover(); v != nil {
				err = ingest.Invalid(ingest.CodeInvalid, msgMalformedPDF)
			}
		}()
		return parsePDF(ctx, b, lim, data)
	})
}

func parsePDF(ctx context.Context, b *builder, lim Limits, data []byte) error {
	if bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-")) && !bytes.HasPrefix(data, []byte("%PDF-")) {
		return ingest.Invalid(ingest.CodeInvalid, "%s: data before the %%PDF header", msgMalformedPDF)
	}
	data = pdfHeaderCompat(data)
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		if errors.Is(err, pdf.ErrInvalidPassword) || bytes.Contains(data, []byte("/Encrypt")) {
			return ingest.Invalid(ingest.CodeUnsupported, msgEncryptedPDF)
		}
		return ingest.Invalid(ingest.CodeInvalid, msgMalformedPDF)
	}
	if r.Trailer().Key("Encrypt").Kind() != pdf.Null {
		return ingest.Invalid(ingest.CodeUnsupported, msgEncryptedPDF)
	}
	info := r.Trailer().Key("Info")
	if t := info.Key("Title"); t.Kind() == pdf.String {
		b.title = t.Text()
	}
	pages, err := pdfPages(ctx, r, lim.MaxPages)
	if err != nil {
		return err
	}
	if len(pages) == 0 {
		return ingest.Invalid(ingest.CodeInvalid, "%s: no pages", msgMalformedPDF)
	}
	budget := lim.MaxUncompressedBytes
	for i, p := range pages {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := checkParents(p); err != nil {
			return err
		}
		n, err := contentSize(p.V.Key("Contents"), budget)
		if err != nil {
			return err
		}
		budget -= n
		text, err := p.GetPlainText(nil)
		if err != nil {
			return ingest.Invalid(ingest.CodeInvalid, "%s: page %d cannot be read", msgMalformedPDF, i+1)
		}
		if err := b.add("", i+1, normaliseText(text)); err != nil {
			return err
		}
	}
	if len(b.sections) == 0 {
		return ingest.Invalid(ingest.CodeEmpty, msgNoTextLayer)
	}
	return nil
}

// pdfHeaderCompat lets the library read PDF 1.8+ and 2.x files, whose
// syntax it otherwise reads, by presenting their header as 1.7.
func pdfHeaderCompat(data []byte) []byte {
	if len(data) < 9 || !bytes.HasPrefix(data, []byte("%PDF-")) {
		return data
	}
	v := data[5:9]
	ok := v[0] >= '1' && v[0] <= '9' && v[1] == '.' && v[2] >= '0' && v[2] <= '9'
	if !ok || (v[0] == '1' && v[2] <= '7' && (v[3] == '\n' || v[3] == '\r')) {
		return data
	}
	if v[3] != '\n' && v[3] != '\r' && v[3] != ' ' && v[3] != '\t' {
		return data
	}
	out := bytes.Clone(data)
	copy(out, "%PDF-1.7\n")
	return out
}

// pdfPages walks the page tree, bounding its size and depth so that a
// cyclic or huge tree ends.
func pdfPages(ctx context.Context, r *pdf.Reader, maxPages int) ([]pdf.Page, error) {
	type node struct {
		v     pdf.Value
		depth int
	}
	root := r.Trailer().Key("Root").Key("Pages")
	stack := []node{{v: root}}
	var pages []pdf.Page
	for visits := 0; len(stack) > 0; visits++ {
		if visits > 4*maxPages+64 || len(stack) > 4*maxPages+64 {
			return nil, ingest.Invalid(ingest.CodeInvalid, "%s: page tree too large", msgMalformedPDF)
		}
		if visits%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch n.v.Key("Type").Name() {
		case "Pages":
			if n.depth >= maxParentDepth {
				return nil, ingest.Invalid(ingest.CodeInvalid, "%s: page tree too deep", msgMalformedPDF)
			}
			kids := n.v.Key("Kids")
			for i := kids.Len() - 1; i >= 0; i-- {
				stack = append(stack, node{v: kids.Index(i), depth: n.depth + 1})
				if len(stack) > 4*maxPages+64 {
					return nil, ingest.Invalid(ingest.CodeInvalid, "%s: page tree too large", msgMalformedPDF)
				}
			}
		case "Page":
			if len(pages) >= maxPages {
				return nil, ingest.Invalid(ingest.CodeTooLarge, "PDF has more than %d pages", maxPages)
			}
			pages = append(pages, pdf.Page{V: n.v})
		}
	}
	return pages, nil
}

// checkParents refuses a page whose chain of parents does not end.
func checkParents(p pdf.Page) error {
	v := p.V
	for i := 0; !v.IsNull(); i++ {
		if i > maxParentDepth {
			return ingest.Invalid(ingest.CodeInvalid, "%s: cyclic page tree", msgMalformedPDF)
		}
		v = v.Key("Parent")
	}
	return nil
}

// contentSize inflates a page's content streams to count their bytes,
// refusing more than budget: a small PDF must not expand without bound.
func contentSize(v pdf.Value, budget int64) (int64, error) {
	var streams []pdf.Value
	switch v.Kind() {
	case pdf.Stream:
		streams = []pdf.Value{v}
	case pdf.Array:
		for i := 0; i < v.Len() && i < 4096; i++ {
			streams = append(streams, v.Index(i))
		}
	}
	var total int64
	for _, s := range streams {
		if s.Kind() != pdf.Stream {
			continue
		}
		rc := s.Reader()
		n, err := io.Copy(io.Discard, io.LimitReader(rc, budget-total+1))
		_ = rc.Close()
		total += n
		if total > budget {
			return 0, ingest.Invalid(ingest.CodeInvalid,
				"decompression bomb: PDF content expands beyond %s", humanBytes(budget))
		}
		if err != nil {
			return 0, ingest.Invalid(ingest.CodeInvalid, "%s: a content stream is damaged", msgMalformedPDF)
		}
	}
	return total, nil
}
