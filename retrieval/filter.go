package retrieval

import (
	"encoding/json"
	"fmt"
)

// Filter is an attribute filter in the shape of OpenAI's vector store
// search filters: a comparison {type: eq|ne|gt|gte|lt|lte, key, value} or a
// compound {type: and|or, filters: [...]}.
type Filter struct {
	Type    string    `json:"type"`
	Key     string    `json:"key,omitempty"`
	Value   any       `json:"value,omitempty"`
	Filters []*Filter `json:"filters,omitempty"`
}

// Filter limits.
const (
	MaxFilterDepth = 8
	MaxFilterNodes = 256
)

// Validate checks the filter's shape: known types, keys on comparisons,
// string, number or boolean values, bounded depth and size.
func (f *Filter) Validate() error {
	n := 0
	return f.validate(0, &n)
}

func (f *Filter) validate(depth int, n *int) error {
	*n++
	if f == nil {
		return fmt.Errorf("%w: empty filter", ErrInvalidQuery)
	}
	if depth > MaxFilterDepth || *n > MaxFilterNodes {
		return fmt.Errorf("%w: filter too deep or too large", ErrInvalidQuery)
	}
	switch f.Type {
	case "eq", "ne", "gt", "gte", "lt", "lte":
		if f.Key == "" {
			return fmt.Errorf("%w: filter %s needs a key", ErrInvalidQuery, f.Type)
		}
		switch v := f.Value.(type) {
		case string, bool, float64:
		case json.Number:
			if _, err := v.Float64(); err != nil {
				return fmt.Errorf("%w: filter value %q is not a number", ErrInvalidQuery, v)
			}
		default:
			return fmt.Errorf("%w: filter value for %q must be a string, number or boolean", ErrInvalidQuery, f.Key)
		}
		if f.Type != "eq" && f.Type != "ne" {
			if _, ok := f.Value.(bool); ok {
				return fmt.Errorf("%w: %s cannot compare booleans", ErrInvalidQuery, f.Type)
			}
		}
	case "and", "or":
		if len(f.Filters) == 0 {
			return fmt.Errorf("%w: filter %s needs filters", ErrInvalidQuery, f.Type)
		}
		for _, c := range f.Filters {
			if err := c.validate(depth+1, n); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: unknown filter type %q", ErrInvalidQuery, f.Type)
	}
	return nil
}

// Match reports whether attributes satisfy the filter. A comparison on a
// missing key is false (ne included); numbers compare numerically, strings
// lexically, and values of different kinds never match.
func (f *Filter) Match(attrs map[string]any) bool {
	if f == nil {
		return true
	}
	switch f.Type {
	case "and":
		for _, c := range f.Filters {
			if !c.Match(attrs) {
				return false
			}
		}
		return true
	case "or":
		for _, c := range f.Filters {
			if c.Match(attrs) {
				return true
			}
		}
		return false
	}
	got, ok := attrs[f.Key]
	if !ok {
		return false
	}
	c, ok := compare(got, f.Value)
	if !ok {
		return false
	}
	switch f.Type {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "gte":
		return c >= 0
	case "lt":
		return c < 0
	case "lte":
		return c <= 0
	}
	return false
}

// compare orders a and b when they are of the same kind.
func compare(a, b any) (int, bool) {
	if fa, ok := Number(a); ok {
		fb, ok := Number(b)
		if !ok {
			return 0, false
		}
		switch {
		case fa < fb:
			return -1, true
		case fa > fb:
			return 1, true
		}
		return 0, true
	}
	switch av := a.(type) {
	case string:
		bv, ok := b.(string)
		if !ok {
			return 0, false
		}
		switch {
		case av < bv:
			return -1, true
		case av > bv:
			return 1, true
		}
		return 0, true
	case bool:
		bv, ok := b.(bool)
		if !ok {
			return 0, false
		}
		if av == bv {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}

// Number reads an attribute or filter value as a number: float64 (what
// JSON decodes to), json.Number, or a Go integer or float32.
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}
