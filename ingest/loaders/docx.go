package loaders

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/ragway/ragway/ingest"
)

// DOCX loads a Word document: paragraphs, headings from the Title and
// Heading1..6 styles, tables as tab-separated rows. The archive is read
// with bounds on entries, inflated bytes and compression ratio, so a zip
// bomb is refused.
type DOCX struct {
	Limits Limits
}

var _ ingest.Loader = (*DOCX)(nil)

// Load implements ingest.Loader.
func (l *DOCX) Load(ctx context.Context, data []byte) (*ingest.Document, error) {
	lim := l.Limits.withDefaults()
	return guard(ctx, data, lim, "DOCX", func(ctx context.Context, b *builder) error {
		b.typ = ingest.TypeDOCX
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return ingest.Invalid(ingest.CodeInvalid, "file is a damaged zip archive, not a readable DOCX")
		}
		if len(zr.File) > lim.MaxArchiveEntries {
			return ingest.Invalid(ingest.CodeInvalid, "decompression bomb: DOCX has %d entries, over the limit of %d",
				len(zr.File), lim.MaxArchiveEntries)
		}
		var doc, core *zip.File
		for _, f := range zr.File {
			switch f.Name {
			case "word/document.xml":
				doc = f
			case "docProps/core.xml":
				core = f
			}
		}
		if doc == nil {
			return ingest.Invalid(ingest.CodeInvalid, "DOCX has no word/document.xml")
		}
		body, err := readZipEntry(doc, lim, lim.MaxUncompressedBytes)
		if err != nil {
			return err
		}
		if err := parseDocumentXML(ctx, b, body); err != nil {
			return err
		}
		if b.title == "" && core != nil {
			if raw, err := readZipEntry(core, lim, 1<<20); err == nil {
				b.title = coreTitle(raw)
			}
		}
		return nil
	})
}

// readZipEntry inflates f, refusing more than max bytes or a compression
// ratio above the limit; the sizes the archive declares are not trusted.
func readZipEntry(f *zip.File, lim Limits, limit int64) ([]byte, error) {
	bomb := func() error {
		return ingest.Invalid(ingest.CodeInvalid,
			"decompression bomb: DOCX entry %s expands beyond the limits (%s, ratio %d:1)",
			cleanLine(f.Name, 128), humanBytes(limit), lim.MaxCompressionRatio)
	}
	if f.UncompressedSize64 > uint64(limit) {
		return nil, bomb()
	}
	rc, err := f.Open()
	if err != nil {
		return nil, ingest.Invalid(ingest.CodeInvalid, "DOCX entry %s cannot be read", cleanLine(f.Name, 128))
	}
	defer rc.Close()
	// Small entries compress well by nature; the ratio is judged past 1 MiB.
	ratioCap := limit
	if c := int64(f.CompressedSize64); c > 0 && c < limit/lim.MaxCompressionRatio {
		ratioCap = min(max(c*lim.MaxCompressionRatio, 1<<20), limit)
	}
	out, err := io.ReadAll(io.LimitReader(rc, ratioCap+1))
	if int64(len(out)) > ratioCap {
		return nil, bomb()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, ingest.Invalid(ingest.CodeInvalid, "DOCX entry %s is damaged", cleanLine(f.Name, 128))
	}
	return out, nil
}

// docxState is the parse of word/document.xml.
type docxState struct {
	b       *builder
	path    headingPath
	body    strings.Builder
	para    strings.Builder
	style   string
	cell    []string
	row     []string
	inTable int
	inText  bool
}

func parseDocumentXML(ctx context.Context, b *builder, body []byte) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = false
	st := &docxState{b: b}
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ingest.Invalid(ingest.CodeInvalid, "DOCX word/document.xml is not well-formed XML")
		}
		if err := st.token(tok); err != nil {
			return err
		}
	}
	return st.flush()
}

func (st *docxState) token(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		switch t.Name.Local {
		case "p":
			st.para.Reset()
			st.style = ""
		case "pStyle":
			st.style = attr(t, "val")
		case "t", "delText":
			st.inText = t.Name.Local == "t"
		case "tab":
			st.para.WriteByte(' ')
		case "br", "cr":
			st.para.WriteByte('\n')
		case "tbl":
			st.inTable++
		case "tr":
			st.row = st.row[:0]
		case "tc":
			st.cell = st.cell[:0]
		}
	case xml.EndElement:
		switch t.Name.Local {
		case "t", "delText":
			st.inText = false
		case "p":
			return st.endParagraph()
		case "tc":
			st.row = append(st.row, strings.Join(st.cell, " "))
		case "tr":
			st.body.WriteString(strings.Join(st.row, "\t"))
			st.body.WriteByte('\n')
		case "tbl":
			st.inTable = max(st.inTable-1, 0)
		}
	case xml.CharData:
		if st.inText {
			st.para.Write(t)
		}
	}
	return nil
}

func (st *docxState) endParagraph() error {
	text := strings.TrimSpace(st.para.String())
	st.para.Reset()
	if st.inTable > 0 {
		if text != "" {
			st.cell = append(st.cell, text)
		}
		return nil
	}
	if level, ok := headingLevel(st.style); ok && text != "" {
		if err := st.flush(); err != nil {
			return err
		}
		if (level == 0 || level == 1) && st.b.title == "" {
			st.b.title = text
		}
		st.path.set(max(level, 1), text)
		return nil
	}
	if text != "" {
		st.body.WriteString(text)
		st.body.WriteString("\n\n")
	}
	return nil
}

func (st *docxState) flush() error {
	err := st.b.add(st.path.String(), 0, st.body.String())
	st.body.Reset()
	return err
}

// headingLevel maps a paragraph style id to a heading level: 0 for Title,
// 1..6 for Heading1..Heading6.
func headingLevel(style string) (int, bool) {
	s := strings.ToLower(strings.ReplaceAll(style, " ", ""))
	if s == "title" {
		return 0, true
	}
	if strings.HasPrefix(s, "heading") && len(s) == len("heading")+1 {
		if c := s[len(s)-1]; c >= '1' && c <= '6' {
			return int(c - '0'), true
		}
	}
	return 0, false
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// coreTitle is dc:title of docProps/core.xml.
func coreTitle(raw []byte) string {
	d := xml.NewDecoder(bytes.NewReader(raw))
	d.Strict = false
	in := false
	for n := 0; n < 1<<16; n++ {
		tok, err := d.RawToken()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case xml.StartElement:
			in = t.Name.Local == "title"
		case xml.EndElement:
			in = false
		case xml.CharData:
			if in {
				return string(t)
			}
		}
	}
	return ""
}
