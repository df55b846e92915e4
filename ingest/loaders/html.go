package loaders

import (
	"context"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/ragway/ragway/ingest"
)

// HTML loads the visible text of an HTML page: scripts, styles, templates,
// SVG, hidden elements and page navigation (nav, aside, and header and
// footer outside an article) are skipped; one section per h1–h6 heading.
// The title is the <title>, else the first h1.
type HTML struct {
	Limits Limits
}

var _ ingest.Loader = (*HTML)(nil)

// skipped are elements whose content is never visible text.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Svg: true, atom.Math: true, atom.Iframe: true, atom.Object: true,
	atom.Embed: true, atom.Canvas: true, atom.Nav: true, atom.Aside: true,
	atom.Head: true, atom.Select: true, atom.Datalist: true,
}

// blocks are elements that break lines.
var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Br: true, atom.Li: true, atom.Ul: true, atom.Ol: true,
	atom.Table: true, atom.Section: true, atom.Article: true, atom.Main: true,
	atom.Blockquote: true, atom.Pre: true, atom.Dd: true, atom.Dt: true, atom.Dl: true,
	atom.Figure: true, atom.Figcaption: true, atom.Hr: true, atom.Header: true, atom.Footer: true,
	atom.Form: true, atom.Fieldset: true, atom.Address: true, atom.Caption: true, atom.Details: true,
	atom.Summary: true, atom.Body: true, atom.Html: true,
}

var headingLevels = map[atom.Atom]int{
	atom.H1: 1, atom.H2: 2, atom.H3: 3, atom.H4: 4, atom.H5: 5, atom.H6: 6,
}

// Load implements ingest.Loader.
func (l *HTML) Load(ctx context.Context, data []byte) (*ingest.Document, error) {
	return guard(ctx, data, l.Limits, "HTML", func(ctx context.Context, b *builder) error {
		b.typ = ingest.TypeHTML
		s, err := decodeText(data)
		if err != nil {
			return err
		}
		root, err := html.Parse(strings.NewReader(s))
		if err != nil {
			return ingest.Invalid(ingest.CodeInvalid, "could not parse HTML: %v", err)
		}
		w := &htmlWalker{b: b}
		if err := w.walk(ctx, root); err != nil {
			return err
		}
		if t := findTitle(root); t != "" {
			b.title = t
		} else {
			b.title = w.firstH1
		}
		return w.flush()
	})
}

type htmlWalker struct {
	b       *builder
	path    headingPath
	text    strings.Builder
	firstH1 string
	steps   int
}

func (w *htmlWalker) flush() error {
	err := w.b.add(w.path.String(), 0, collapseLines(w.text.String()))
	w.text.Reset()
	return err
}

// walk visits n's subtree in document order without recursion, so deep
// nesting costs heap, not stack.
func (w *htmlWalker) walk(ctx context.Context, root *html.Node) error {
	type frame struct {
		n       *html.Node
		leaving bool
	}
	stack := []frame{{n: root}}
	inArticle := 0
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if w.steps++; w.steps%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		n := f.n
		if f.leaving {
			if n.DataAtom == atom.Article || n.DataAtom == atom.Main {
				inArticle--
			}
			if blocks[n.DataAtom] {
				w.text.WriteByte('\n')
			}
			switch n.DataAtom {
			case atom.Td, atom.Th:
				w.text.WriteByte('\t')
			case atom.Tr:
				w.text.WriteByte('\n')
			}
			continue
		}
		switch n.Type {
		case html.TextNode:
			w.text.WriteString(n.Data)
			continue
		case html.ElementNode:
			if w.hidden(n, inArticle) {
				continue
			}
			if level, ok := headingLevels[n.DataAtom]; ok {
				if err := w.heading(level, n); err != nil {
					return err
				}
				continue
			}
			if n.DataAtom == atom.Article || n.DataAtom == atom.Main {
				inArticle++
			}
			if blocks[n.DataAtom] {
				w.text.WriteByte('\n')
			}
		case html.DocumentNode:
		default:
			continue
		}
		stack = append(stack, frame{n: n, leaving: true})
		for c := n.LastChild; c != nil; c = c.PrevSibling {
			stack = append(stack, frame{n: c})
		}
	}
	return nil
}

func (w *htmlWalker) hidden(n *html.Node, inArticle int) bool {
	if skipped[n.DataAtom] {
		return true
	}
	if (n.DataAtom == atom.Header || n.DataAtom == atom.Footer) && inArticle == 0 {
		return true
	}
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "hidden":
			return true
		case "aria-hidden":
			if strings.EqualFold(a.Val, "true") {
				return true
			}
		case "role":
			switch strings.ToLower(a.Val) {
			case "navigation", "banner", "contentinfo", "complementary":
				return true
			}
		case "style":
			v := strings.ReplaceAll(strings.ToLower(a.Val), " ", "")
			if strings.Contains(v, "display:none") || strings.Contains(v, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

func (w *htmlWalker) heading(level int, n *html.Node) error {
	if err := w.flush(); err != nil {
		return err
	}
	t := cleanLine(nodeText(n, 64<<10), maxTitleBytes)
	if level == 1 && w.firstH1 == "" {
		w.firstH1 = t
	}
	w.path.set(level, t)
	return nil
}

// nodeText is the text under n, up to max bytes, skipping hidden content.
func nodeText(n *html.Node, max int) string {
	var sb strings.Builder
	stack := []*html.Node{n}
	for len(stack) > 0 && sb.Len() < max {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c.Type == html.TextNode {
			sb.WriteString(c.Data)
			sb.WriteByte(' ')
			continue
		}
		if c.Type == html.ElementNode && skipped[c.DataAtom] {
			continue
		}
		for k := c.LastChild; k != nil; k = k.PrevSibling {
			stack = append(stack, k)
		}
	}
	return sb.String()
}

// findTitle returns the text of the first <title>.
func findTitle(root *html.Node) string {
	stack := []*html.Node{root}
	for steps := 0; len(stack) > 0 && steps < 1<<16; steps++ {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Type == html.ElementNode && n.DataAtom == atom.Title {
			return cleanLine(nodeText(n, 4096), maxTitleBytes)
		}
		if n.Type == html.ElementNode && n.DataAtom == atom.Body {
			continue
		}
		for c := n.LastChild; c != nil; c = c.PrevSibling {
			stack = append(stack, c)
		}
	}
	return ""
}

// collapseLines collapses runs of spaces within lines, keeps tabs between
// table cells, and drops blank lines beyond one.
func collapseLines(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := false
	for _, l := range lines {
		cells := strings.Split(l, "\t")
		kept := cells[:0]
		for _, c := range cells {
			if c = strings.Join(strings.Fields(c), " "); c != "" {
				kept = append(kept, c)
			}
		}
		l = strings.Join(kept, "\t")
		if l == "" {
			if !blank && len(out) > 0 {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
