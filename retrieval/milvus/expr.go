package milvus

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ragway/ragway/retrieval"
)

// Filters become Milvus boolean expressions over the attributes JSON
// field: attributes["key"] <op> value.
//
// Values are bound template parameters ({p0}, {p1}, ...) on servers that
// take expression templates (2.5+), and otherwise written as literals:
// strings double-quoted with every quote, backslash and control character
// escaped, numbers always in floating-point form, booleans as true/false.
//
// Keys cannot be bound. Milvus takes the text between the quotes of
// ["..."] as the key without unescaping it, splits paths at "][", and
// looks keys up in the stored JSON as written, so a key is accepted only
// when it contains no quote, backslash, control character, U+2028/U+2029
// (which the JSON encoder escapes) nor "][", and is valid UTF-8. Other
// keys are refused with retrieval.ErrInvalidQuery.
//
// Semantics follow retrieval.Filter.Match. Milvus evaluates a comparison
// on a missing key or a value of another JSON type as false, except !=,
// which it evaluates as true. So ne is written without !=: (a < v or
// a > v) for numbers and strings, a == !v for booleans, each false on a
// missing key or another type, as Match is.

// Expression limits.
const maxKeyBytes = 256

// expression is a Milvus boolean expression and the values bound to its
// placeholders (none when values are written inline).
type expression struct {
	text   string
	params map[string]any
}

var cmpOps = map[string]string{"eq": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

// filterExpr translates a filter; templates chooses bound values. A nil
// filter is the empty expression.
func filterExpr(f *retrieval.Filter, templates bool) (expression, error) {
	if f == nil {
		return expression{}, nil
	}
	if err := f.Validate(); err != nil {
		return expression{}, err
	}
	b := exprBuilder{templates: templates}
	if templates {
		b.params = map[string]any{}
	}
	if err := b.write(f); err != nil {
		return expression{}, err
	}
	return expression{text: b.sb.String(), params: b.params}, nil
}

type exprBuilder struct {
	sb        strings.Builder
	templates bool
	params    map[string]any
}

func (b *exprBuilder) write(f *retrieval.Filter) error {
	switch f.Type {
	case "and", "or":
		b.sb.WriteByte('(')
		for i, c := range f.Filters {
			if i > 0 {
				b.sb.WriteString(" " + f.Type + " ")
			}
			if err := b.write(c); err != nil {
				return err
			}
		}
		b.sb.WriteByte(')')
		return nil
	}
	path, err := jsonPath(f.Key)
	if err != nil {
		return err
	}
	v, err := filterValue(f.Value)
	if err != nil {
		return err
	}
	if f.Type == "ne" {
		if bv, ok := v.(bool); ok {
			return b.cmp(path, "==", !bv)
		}
		b.sb.WriteByte('(')
		if err := b.cmp(path, "<", v); err != nil {
			return err
		}
		b.sb.WriteString(" or ")
		if err := b.cmp(path, ">", v); err != nil {
			return err
		}
		b.sb.WriteByte(')')
		return nil
	}
	op, ok := cmpOps[f.Type]
	if !ok {
		return fmt.Errorf("%w: unknown filter type %q", retrieval.ErrInvalidQuery, f.Type)
	}
	if _, isBool := v.(bool); isBool && op != "==" {
		return fmt.Errorf("%w: %s cannot compare booleans", retrieval.ErrInvalidQuery, f.Type)
	}
	return b.cmp(path, op, v)
}

func (b *exprBuilder) cmp(path, op string, v any) error {
	b.sb.WriteString(path)
	b.sb.WriteString(" " + op + " ")
	if b.templates {
		name := "p" + strconv.Itoa(len(b.params))
		b.params[name] = v
		b.sb.WriteString("{" + name + "}")
		return nil
	}
	lit, err := literal(v)
	if err != nil {
		return err
	}
	b.sb.WriteString(lit)
	return nil
}

// filterValue normalises a filter value to string, float64 or bool.
func filterValue(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return nil, fmt.Errorf("%w: filter value is not valid UTF-8", retrieval.ErrInvalidQuery)
		}
		return x, nil
	case bool:
		return x, nil
	case float64:
		return finite(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("%w: filter value is not a number", retrieval.ErrInvalidQuery)
		}
		return finite(f)
	}
	return nil, fmt.Errorf("%w: filter value must be a string, number or boolean", retrieval.ErrInvalidQuery)
}

func finite(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: filter value must be a finite number", retrieval.ErrInvalidQuery)
	}
	return f, nil
}

// jsonPath is attributes["key"] for a key Milvus can address (see above).
func jsonPath(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return fieldAttributes + `["` + key + `"]`, nil
}

func checkKey(key string) error {
	if key == "" || len(key) > maxKeyBytes || !utf8.ValidString(key) {
		return fmt.Errorf("%w: filter key must be valid UTF-8 of 1 to %d bytes", retrieval.ErrInvalidQuery, maxKeyBytes)
	}
	if strings.Contains(key, "][") {
		return fmt.Errorf("%w: filter key %q cannot contain \"][\"", retrieval.ErrInvalidQuery, key)
	}
	for _, r := range key {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%w: filter key %q cannot contain quotes, backslashes or control characters", retrieval.ErrInvalidQuery, key)
		}
	}
	return nil
}

// literal writes a value for an expression.
func literal(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return quote(x)
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return formatFloat(x)
	}
	return "", fmt.Errorf("%w: filter value must be a string, number or boolean", retrieval.ErrInvalidQuery)
}

// quote is a double-quoted string literal: the quote and the backslash
// escaped, \n \r \t as such, every other control or non-printable rune
// as \uXXXX or \UXXXXXXXX. These are escapes the Milvus grammar accepts and
// the server unquotes as Go does. Invalid UTF-8 is refused.
func quote(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: string is not valid UTF-8", retrieval.ErrInvalidQuery)
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || !unicode.IsPrint(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// formatFloat writes f so Milvus reads a floating-point constant (an
// integer constant would compare JSON values as integers).
func formatFloat(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%w: filter value must be a finite number", retrieval.ErrInvalidQuery)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s, nil
}

// fileExpr selects one file's chunks.
func fileExpr(fileID string) (string, error) {
	q, err := quote(fileID)
	if err != nil {
		return "", err
	}
	return fieldFileID + " == " + q, nil
}

// pkListExpr selects chunks by primary key (hex, see primaryKey; quoted
// all the same).
func pkListExpr(pks []string) string {
	var b strings.Builder
	b.WriteString(fieldPK + " in [")
	for i, pk := range pks {
		if i > 0 {
			b.WriteByte(',')
		}
		q, _ := quote(pk)
		b.WriteString(q)
	}
	b.WriteByte(']')
	return b.String()
}

// and joins expressions, skipping empty ones.
func and(exprs ...string) string {
	var parts []string
	for _, e := range exprs {
		if e != "" {
			parts = append(parts, "("+e+")")
		}
	}
	return strings.Join(parts, " and ")
}
