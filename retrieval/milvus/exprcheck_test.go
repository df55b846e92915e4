package milvus

import (
	"fmt"
	"strconv"
	"strings"
)

// exprEval parses an expression as Milvus does for the subset filterExpr
// emits and evaluates it over attributes with Milvus's semantics: a
// comparison on a missing key or a value of another JSON type is false;
// numbers compare as floats, strings bytewise, booleans only by ==. It
// fails on anything outside the subset, so it also checks that the output
// is well formed: balanced parentheses and brackets, terminated string
// literals, escapes the grammar takes, floating-point constants.
type exprEval struct {
	src    string
	pos    int
	params map[string]any
	attrs  map[string]any
	used   map[string]bool
}

func evalExpr(e expression, attrs map[string]any) (bool, error) {
	p := &exprEval{src: e.text, params: e.params, attrs: attrs, used: map[string]bool{}}
	v, err := p.or()
	if err != nil {
		return false, err
	}
	p.space()
	if p.pos != len(p.src) {
		return false, fmt.Errorf("trailing input at %d: %q", p.pos, p.src[p.pos:])
	}
	if len(p.used) != len(e.params) {
		return false, fmt.Errorf("%d params bound, %d used", len(e.params), len(p.used))
	}
	return v, nil
}

func (p *exprEval) space() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *exprEval) word(w string) bool {
	p.space()
	if strings.HasPrefix(p.src[p.pos:], w) {
		p.pos += len(w)
		return true
	}
	return false
}

func (p *exprEval) or() (bool, error) {
	v, err := p.and()
	if err != nil {
		return false, err
	}
	for p.word("or ") {
		w, err := p.and()
		if err != nil {
			return false, err
		}
		v = v || w
	}
	return v, nil
}

func (p *exprEval) and() (bool, error) {
	v, err := p.primary()
	if err != nil {
		return false, err
	}
	for p.word("and ") {
		w, err := p.primary()
		if err != nil {
			return false, err
		}
		v = v && w
	}
	return v, nil
}

func (p *exprEval) primary() (bool, error) {
	if p.word("(") {
		v, err := p.or()
		if err != nil {
			return false, err
		}
		if !p.word(")") {
			return false, fmt.Errorf("unbalanced parenthesis at %d", p.pos)
		}
		return v, nil
	}
	key, err := p.path()
	if err != nil {
		return false, err
	}
	p.space()
	var op string
	for _, o := range []string{"==", ">=", "<=", ">", "<"} {
		if p.word(o) {
			op = o
			break
		}
	}
	if op == "" {
		return false, fmt.Errorf("no operator at %d", p.pos)
	}
	want, err := p.value()
	if err != nil {
		return false, err
	}
	got, ok := p.attrs[key]
	if !ok {
		return false, nil
	}
	var c int
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		if !ok {
			return false, nil
		}
		c = cmpOrdered(g, w)
	case string:
		g, ok := got.(string)
		if !ok {
			return false, nil
		}
		c = strings.Compare(g, w)
	case bool:
		g, ok := got.(bool)
		if !ok {
			return false, nil
		}
		if op != "==" {
			return false, fmt.Errorf("boolean compared with %s", op)
		}
		return g == w, nil
	}
	switch op {
	case "==":
		return c == 0, nil
	case ">":
		return c > 0, nil
	case ">=":
		return c >= 0, nil
	case "<":
		return c < 0, nil
	}
	return c <= 0, nil
}

func cmpOrdered(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// path reads attributes[<string literal>] and extracts the key the way
// Milvus's parser does: the literal's raw text between its quotes, after
// splitting the bracket part at "][" and trimming brackets.
func (p *exprEval) path() (string, error) {
	p.space()
	if !strings.HasPrefix(p.src[p.pos:], fieldAttributes+"[") {
		return "", fmt.Errorf("no json path at %d", p.pos)
	}
	p.pos += len(fieldAttributes)
	start := p.pos
	p.pos++ // [
	if _, err := p.stringLiteral(); err != nil {
		return "", err
	}
	if p.pos >= len(p.src) || p.src[p.pos] != ']' {
		return "", fmt.Errorf("unbalanced bracket at %d", p.pos)
	}
	p.pos++
	ident := p.src[start:p.pos]
	parts := strings.Split(ident, "][")
	if len(parts) != 1 {
		return "", fmt.Errorf("path %q splits into %d keys", ident, len(parts))
	}
	k := strings.Trim(parts[0], "[]")
	if len(k) < 2 || k[0] != '"' || k[len(k)-1] != '"' || len(k) == 2 {
		return "", fmt.Errorf("key %q is not quoted", k)
	}
	return k[1 : len(k)-1], nil
}

// stringLiteral scans a double-quoted literal by the grammar (no raw
// quote, backslash, CR or LF; escapes \['"?abfnrtv\\], octal, \x, \u,
// \U) and returns its raw text.
func (p *exprEval) stringLiteral() (string, error) {
	start := p.pos
	if p.pos >= len(p.src) || p.src[p.pos] != '"' {
		return "", fmt.Errorf("no string at %d", p.pos)
	}
	p.pos++
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return p.src[start:p.pos], nil
		case '\r', '\n':
			return "", fmt.Errorf("raw line break in string at %d", p.pos)
		case '\\':
			if p.pos+1 >= len(p.src) {
				return "", fmt.Errorf("dangling backslash")
			}
			e := p.src[p.pos+1]
			switch {
			case strings.IndexByte(`'"?abfnrtv\`, e) >= 0:
				p.pos += 2
			case e == 'u' && p.hex(p.pos+2, 4):
				p.pos += 6
			case e == 'U' && p.hex(p.pos+2, 8):
				p.pos += 10
			default:
				return "", fmt.Errorf("escape \\%c the grammar refuses", e)
			}
		default:
			p.pos++
		}
	}
	return "", fmt.Errorf("unterminated string")
}

func (p *exprEval) hex(at, n int) bool {
	if at+n > len(p.src) {
		return false
	}
	_, err := strconv.ParseUint(p.src[at:at+n], 16, 64)
	return err == nil
}

func (p *exprEval) value() (any, error) {
	p.space()
	rest := p.src[p.pos:]
	switch {
	case strings.HasPrefix(rest, "{"):
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("unterminated placeholder")
		}
		name := rest[1:end]
		v, ok := p.params[name]
		if !ok {
			return nil, fmt.Errorf("unbound placeholder %q", name)
		}
		p.used[name] = true
		p.pos += end + 1
		return v, nil
	case strings.HasPrefix(rest, `"`):
		raw, err := p.stringLiteral()
		if err != nil {
			return nil, err
		}
		return strconv.Unquote(raw)
	case strings.HasPrefix(rest, "true"):
		p.pos += 4
		return true, nil
	case strings.HasPrefix(rest, "false"):
		p.pos += 5
		return false, nil
	}
	end := 0
	for end < len(rest) && strings.IndexByte("-+.0123456789e", rest[end]) >= 0 {
		end++
	}
	num := rest[:end]
	if !strings.ContainsAny(num, ".e") {
		return nil, fmt.Errorf("number %q is not a floating-point constant", num)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return nil, fmt.Errorf("bad number %q", num)
	}
	p.pos += end
	return f, nil
}
