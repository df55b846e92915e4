package loaders

import (
	"context"
	"regexp"
	"strings"

	"github.com/ragway/ragway/ingest"
)

// Markdown loads Markdown: one section per heading, with the heading path;
// the title is the first level-1 heading.
type Markdown struct {
	Limits Limits
}

var _ ingest.Loader = (*Markdown)(nil)

var (
	atxHeading    = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	setextHeading = regexp.MustCompile(`^ {0,3}(=+|-+)[ \t]*$`)
	fenceLine     = regexp.MustCompile("^ {0,3}(```+|~~~+)")
	frontMatter   = regexp.MustCompile(`(?s)\A---\n.*?\n(?:---|\.\.\.)\n`)
)

// Load implements ingest.Loader.
func (l *Markdown) Load(ctx context.Context, data []byte) (*ingest.Document, error) {
	return guard(ctx, data, l.Limits, "Markdown", func(ctx context.Context, b *builder) error {
		b.typ = ingest.TypeMarkdown
		s, err := decodeText(data)
		if err != nil {
			return err
		}
		return parseMarkdown(ctx, b, s)
	})
}

func parseMarkdown(ctx context.Context, b *builder, s string) error {
	s = frontMatter.ReplaceAllString(s, "")
	lines := strings.Split(s, "\n")
	var (
		path  headingPath
		body  []string
		fence string
	)
	flush := func() error {
		err := b.add(path.String(), 0, strings.Join(body, "\n"))
		body = body[:0]
		return err
	}
	heading := func(level int, text string) error {
		if err := flush(); err != nil {
			return err
		}
		text = strings.TrimSpace(text)
		if level == 1 && b.title == "" {
			b.title = text
		}
		path.set(level, text)
		return nil
	}
	for i, line := range lines {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if m := fenceLine.FindStringSubmatch(line); m != nil {
			switch {
			case fence == "":
				fence = m[1]
			case strings.HasPrefix(m[1], fence[:1]) && len(m[1]) >= len(fence):
				fence = ""
			}
			body = append(body, line)
			continue
		}
		if fence != "" {
			body = append(body, line)
			continue
		}
		if m := atxHeading.FindStringSubmatch(line); m != nil {
			if err := heading(len(m[1]), m[2]); err != nil {
				return err
			}
			continue
		}
		if m := setextHeading.FindStringSubmatch(line); m != nil && len(body) > 0 &&
			strings.TrimSpace(body[len(body)-1]) != "" && !isListOrQuote(body[len(body)-1]) {
			text := body[len(body)-1]
			body = body[:len(body)-1]
			level := 1
			if m[1][0] == '-' {
				level = 2
			}
			if err := heading(level, text); err != nil {
				return err
			}
			continue
		}
		body = append(body, line)
	}
	return flush()
}

func isListOrQuote(line string) bool {
	t := strings.TrimSpace(line)
	return strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") || strings.HasPrefix(t, "> ") || strings.HasPrefix(t, "|")
}
