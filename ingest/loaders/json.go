package loaders

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ragway/ragway/ingest"
)

// JSON loads a JSON document, or JSON Lines when Lines is set, flattened
// to "path: value" lines ("items[0].name: pen"). Nesting deeper than
// Limits.MaxDepth is refused. A JSON document is one section; JSON Lines
// are one section per record, headed "record N". The title is a top-level
// "title" string, when there is one.
type JSON struct {
	Limits Limits
	Lines  bool
}

var _ ingest.Loader = (*JSON)(nil)

// jsonLinesPerSection bounds the lines of one section of a JSON document.
const jsonLinesPerSection = 200

// Load implements ingest.Loader.
func (l *JSON) Load(ctx context.Context, data []byte) (*ingest.Document, error) {
	lim := l.Limits.withDefaults()
	kind := "JSON"
	if l.Lines {
		kind = "JSON Lines"
	}
	return guard(ctx, data, lim, kind, func(ctx context.Context, b *builder) error {
		s, err := decodeText(data)
		if err != nil {
			return err
		}
		if !l.Lines {
			b.typ = ingest.TypeJSON
			f := &flattener{ctx: ctx, b: b, maxDepth: lim.MaxDepth}
			return f.document(s)
		}
		b.typ = ingest.TypeJSONL
		return parseJSONLines(ctx, b, s, lim.MaxDepth)
	})
}

func parseJSONLines(ctx context.Context, b *builder, s string, maxDepth int) error {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64<<10), len(s)+1)
	n := 0
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		n++
		f := &flattener{ctx: ctx, b: b, maxDepth: maxDepth, heading: fmt.Sprintf("record %d", n)}
		if err := f.value(l, line); err != nil {
			return err
		}
	}
	if sc.Err() != nil {
		return ingest.Invalid(ingest.CodeInvalid, "JSON Lines cannot be read")
	}
	return nil
}

// flattener turns a JSON value into "path: value" lines, streaming tokens
// so that no tree is built.
type flattener struct {
	ctx      context.Context
	b        *builder
	maxDepth int
	heading  string
	sb       strings.Builder
	lines    int
	tokens   int
}

func (f *flattener) document(s string) error { return f.value(s, 0) }

// value flattens one JSON text; line, when not 0, names the line of a JSON
// Lines file in errors.
func (f *flattener) value(s string, line int) error {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := f.walk(d, "", 0, line); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return f.syntax(line)
	}
	return f.flush()
}

func (f *flattener) syntax(line int) error {
	if line > 0 {
		return ingest.Invalid(ingest.CodeInvalid, "JSON Lines record on line %d is not valid JSON", line)
	}
	return ingest.Invalid(ingest.CodeInvalid, "file is not valid JSON")
}

func (f *flattener) walk(d *json.Decoder, path string, depth, line int) error {
	if f.tokens++; f.tokens%4096 == 0 && f.ctx.Err() != nil {
		return f.ctx.Err()
	}
	if depth > f.maxDepth {
		return ingest.Invalid(ingest.CodeInvalid, "JSON is nested deeper than %d levels", f.maxDepth)
	}
	tok, err := d.Token()
	if err != nil {
		return f.syntax(line)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return f.syntax(line)
				}
				key, _ := kt.(string)
				if err := f.walk(d, joinPath(path, key), depth+1, line); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; d.More(); i++ {
				if err := f.walk(d, path+"["+strconv.Itoa(i)+"]", depth+1, line); err != nil {
					return err
				}
			}
		default:
			return f.syntax(line)
		}
		if _, err := d.Token(); err != nil {
			return f.syntax(line)
		}
		return nil
	case string:
		if depth == 1 && path == "title" && f.b.title == "" {
			f.b.title = t
		}
		return f.emit(path, strings.Join(strings.Fields(t), " "))
	case json.Number:
		return f.emit(path, t.String())
	case bool:
		return f.emit(path, strconv.FormatBool(t))
	case nil:
		return f.emit(path, "null")
	}
	return nil
}

func joinPath(path, key string) string {
	if key == "" || strings.ContainsAny(key, ".[] ") {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func (f *flattener) emit(path, v string) error {
	if path != "" {
		f.sb.WriteString(path)
		f.sb.WriteString(": ")
	}
	f.sb.WriteString(v)
	f.sb.WriteByte('\n')
	if f.lines++; f.lines%jsonLinesPerSection == 0 {
		return f.flush()
	}
	return nil
}

func (f *flattener) flush() error {
	err := f.b.add(f.heading, 0, f.sb.String())
	f.sb.Reset()
	return err
}
