package loaders

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"github.com/ragway/ragway/ingest"
)

// maxTitleBytes bounds a document title.
const maxTitleBytes = 512

// Load validates data, detects its type from content (filename is a hint)
// and parses it with the matching loader under lim. A rejected file is an
// *ingest.DocumentError; when ctx itself ends, ctx's error is returned
// (wrapped) so the caller can retry later.
func Load(ctx context.Context, data []byte, filename string, lim Limits) (*ingest.Document, error) {
	lim = lim.withDefaults()
	if err := checkSize(data, lim); err != nil {
		return nil, err
	}
	t, err := Detect(data, filename)
	if err != nil {
		return nil, err
	}
	l, err := For(t, lim)
	if err != nil {
		return nil, err
	}
	return l.Load(ctx, data)
}

// For returns the loader of type t.
func For(t ingest.Type, lim Limits) (ingest.Loader, error) {
	switch t {
	case ingest.TypeText:
		return &Text{Limits: lim}, nil
	case ingest.TypeMarkdown:
		return &Markdown{Limits: lim}, nil
	case ingest.TypeHTML:
		return &HTML{Limits: lim}, nil
	case ingest.TypePDF:
		return &PDF{Limits: lim}, nil
	case ingest.TypeDOCX:
		return &DOCX{Limits: lim}, nil
	case ingest.TypeCSV:
		return &CSV{Limits: lim}, nil
	case ingest.TypeJSON:
		return &JSON{Limits: lim}, nil
	case ingest.TypeJSONL:
		return &JSON{Limits: lim, Lines: true}, nil
	default:
		return nil, ingest.Invalid(ingest.CodeUnsupported, "unsupported file type %q", string(t))
	}
}

func checkSize(data []byte, lim Limits) error {
	if len(data) == 0 {
		return ingest.Invalid(ingest.CodeEmpty, "file is empty")
	}
	if int64(len(data)) > lim.MaxFileBytes {
		return ingest.Invalid(ingest.CodeTooLarge, "file is %s, over the limit of %s",
			humanBytes(int64(len(data))), humanBytes(lim.MaxFileBytes))
	}
	return nil
}

// repanic, set by tests, makes a panic in a parser crash the process so
// fuzzing finds it instead of it being reported as a malformed file.
var repanic bool

type result struct {
	doc *ingest.Document
	err error
}

// guard validates the size of data, then runs parse in a goroutine under
// lim.Timeout, recovering a panic into a DocumentError, and cleans the
// document it returns. parse must watch its ctx and work on bounded input
// so that it ends soon after the timeout.
func guard(ctx context.Context, data []byte, lim Limits, kind string,
	parse func(ctx context.Context, b *builder) error,
) (*ingest.Document, error) {
	lim = lim.withDefaults()
	if err := checkSize(data, lim); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load %s: %w", kind, err)
	}
	pctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				if repanic {
					panic(fmt.Sprintf("%v\n%s", v, debug.Stack()))
				}
				done <- result{err: ingest.Invalid(ingest.CodeInvalid, "could not parse %s: the file is malformed", kind)}
			}
		}()
		b := &builder{limit: lim.MaxTextBytes}
		err := parse(pctx, b)
		done <- result{doc: b.doc(), err: err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, parseError(ctx, kind, lim, r.err)
		}
		return finish(r.doc)
	case <-pctx.Done():
		return nil, parseError(ctx, kind, lim, pctx.Err())
	}
}

// parseError turns a parser's error into the error Load returns.
func parseError(ctx context.Context, kind string, lim Limits, err error) error {
	var de *ingest.DocumentError
	switch {
	case errors.As(err, &de):
		return de
	case ctx.Err() != nil:
		return fmt.Errorf("load %s: %w", kind, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return ingest.Invalid(ingest.CodeInvalid, "%s took longer than %s to parse", kind, lim.Timeout)
	default:
		return ingest.Invalid(ingest.CodeInvalid, "could not parse %s: the file is malformed", kind)
	}
}

// finish drops empty sections and rejects a document without text.
func finish(d *ingest.Document) (*ingest.Document, error) {
	out := d.Sections[:0]
	for _, s := range d.Sections {
		s.Text = strings.TrimSpace(s.Text)
		if s.Text == "" {
			continue
		}
		s.Heading = cleanLine(s.Heading, maxTitleBytes*4)
		out = append(out, s)
	}
	d.Sections = out
	d.Title = cleanLine(d.Title, maxTitleBytes)
	if len(d.Sections) == 0 {
		return nil, ingest.Invalid(ingest.CodeEmpty, "no extractable text")
	}
	return d, nil
}

// cleanLine makes s one valid UTF-8 line of at most max bytes.
func cleanLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// builder collects sections, bounding the total text.
type builder struct {
	title    string
	typ      ingest.Type
	sections []ingest.Section
	size     int64
	limit    int64
}

func (b *builder) add(heading string, page int, text string) error {
	text = strings.ToValidUTF8(text, "\uFFFD")
	if strings.TrimSpace(text) == "" {
		return nil
	}
	b.size += int64(len(text))
	if b.size > b.limit {
		return ingest.Invalid(ingest.CodeTooLarge, "extracted text exceeds the limit of %s", humanBytes(b.limit))
	}
	b.sections = append(b.sections, ingest.Section{Text: text, Heading: heading, Page: page})
	return nil
}

func (b *builder) doc() *ingest.Document {
	return &ingest.Document{Type: b.typ, Title: b.title, Sections: b.sections}
}

// headingPath tracks the headings above the current text.
type headingPath struct {
	levels [6]string
}

// set records a heading of level 1..6 and clears the deeper ones.
func (h *headingPath) set(level int, text string) {
	level = min(max(level, 1), 6)
	h.levels[level-1] = cleanLine(text, maxTitleBytes)
	for i := level; i < len(h.levels); i++ {
		h.levels[i] = ""
	}
}

func (h *headingPath) String() string {
	parts := make([]string, 0, len(h.levels))
	for _, l := range h.levels {
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " > ")
}
