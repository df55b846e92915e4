package loaders

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ragway/ragway/ingest"
)

// CSV loads a delimited table (comma, tab, semicolon or pipe): the first
// row is the header and every other row becomes "header: value" lines; one
// section per Limits.RowsPerSection rows, headed by the row range.
type CSV struct {
	Limits Limits
}

var _ ingest.Loader = (*CSV)(nil)

// Load implements ingest.Loader.
func (l *CSV) Load(ctx context.Context, data []byte) (*ingest.Document, error) {
	lim := l.Limits.withDefaults()
	return guard(ctx, data, lim, "CSV", func(ctx context.Context, b *builder) error {
		b.typ = ingest.TypeCSV
		s, err := decodeText(data)
		if err != nil {
			return err
		}
		return parseCSV(ctx, b, s, lim.RowsPerSection)
	})
}

func parseCSV(ctx context.Context, b *builder, s string, perSection int) error {
	delim, ok := csvDelimiter(s, 1)
	if !ok {
		delim = ','
	}
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = delim
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	var (
		header []string
		sb     strings.Builder
		first  = 1
		row    = 0
	)
	flush := func() error {
		err := b.add(fmt.Sprintf("rows %d-%d", first, row), 0, sb.String())
		sb.Reset()
		first = row + 1
		return err
	}
	for {
		if row%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return ingest.Invalid(ingest.CodeInvalid, "CSV is malformed at line %d", pe.Line)
			}
			return ingest.Invalid(ingest.CodeInvalid, "CSV is malformed")
		}
		if header == nil {
			header = make([]string, len(rec))
			for i, h := range rec {
				header[i] = cleanLine(h, 256)
			}
			continue
		}
		row++
		writeRow(&sb, header, rec)
		if row%perSection == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if row == 0 && header != nil {
		// A table of one row: keep it as text.
		return b.add("", 0, strings.Join(header, "\t"))
	}
	if sb.Len() > 0 {
		return flush()
	}
	return nil
}

func writeRow(sb *strings.Builder, header, rec []string) {
	wrote := false
	for i, v := range rec {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		name := ""
		if i < len(header) {
			name = header[i]
		}
		if name == "" {
			name = fmt.Sprintf("column %d", i+1)
		}
		sb.WriteString(name)
		sb.WriteString(": ")
		sb.WriteString(strings.Join(strings.Fields(v), " "))
		sb.WriteByte('\n')
		wrote = true
	}
	if wrote {
		sb.WriteByte('\n')
	}
}
