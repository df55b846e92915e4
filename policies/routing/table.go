package routing

import (
	"errors"
	"hash/fnv"
	"math/rand/v2"
)

// ErrUnknownTarget is returned when a forced target is not part of the route.
var ErrUnknownTarget = errors.New("unknown target")

// Caller identifies who sent a request, for sticky routing.
type Caller struct {
	// User is the request body's "user" field.
	User string
	// Key identifies the caller's credential (an API key id, a token subject).
	Key string
	// Header returns a request header's value.
	Header func(name string) string
}

// Table is an immutable set of compiled routes.
type Table struct {
	routes map[string]*compiled
	order  []string
}

type compiled struct {
	Route
	cumulative []int // running sum of weights, for weighted picks
	total      int
	byLabel    map[string]int
}

// NewTable compiles validated routes.
func NewTable(routes []Route) *Table {
	t := &Table{routes: make(map[string]*compiled, len(routes))}
	for _, r := range routes {
		c := &compiled{Route: r, byLabel: make(map[string]int, len(r.Targets))}
		for i, tg := range r.Targets {
			w := tg.Weight
			if w == 0 && len(r.Targets) == 1 {
				w = 1
			}
			c.total += w
			c.cumulative = append(c.cumulative, c.total)
			c.byLabel[tg.Label()] = i
		}
		t.routes[r.Model] = c
		t.order = append(t.order, r.Model)
	}
	return t
}

// Route returns the named route.
func (t *Table) Route(model string) (Route, bool) {
	c, ok := t.routes[model]
	if !ok {
		return Route{}, false
	}
	return c.Route, true
}

// Models returns the route names in configuration order.
func (t *Table) Models() []string { return t.order }

// Chain returns the route and its fallbacks, depth first, each once.
func (t *Table) Chain(model string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(m string) {
		c, ok := t.routes[m]
		if !ok || seen[m] {
			return
		}
		seen[m] = true
		out = append(out, m)
		for _, f := range c.Fallbacks {
			walk(f)
		}
	}
	walk(model)
	return out
}

// Pick chooses the target of route model for caller. forced, when not empty,
// names the target to use and must be one of the route's. The second result
// is false when the route does not exist.
func (t *Table) Pick(model string, caller Caller, forced string) (Target, bool, error) {
	c, ok := t.routes[model]
	if !ok {
		return Target{}, false, nil
	}
	if forced != "" {
		i, ok := c.byLabel[forced]
		if !ok {
			return Target{}, true, ErrUnknownTarget
		}
		return c.Targets[i], true, nil
	}
	return c.Targets[c.index(caller)], true, nil
}

func (c *compiled) index(caller Caller) int {
	if len(c.Targets) == 1 || c.total <= 0 {
		return 0
	}
	var n int
	if key := c.stickyKey(caller); key != "" {
		h := fnv.New64a()
		_, _ = h.Write([]byte(c.Model))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(key))
		n = int(h.Sum64() % uint64(c.total))
	} else {
		n = rand.IntN(c.total)
	}
	for i, cum := range c.cumulative {
		if n < cum {
			return i
		}
	}
	return len(c.Targets) - 1
}

func (c *compiled) stickyKey(caller Caller) string {
	switch c.Sticky.By {
	case StickyUser:
		return caller.User
	case StickyKey:
		return caller.Key
	case StickyHeader:
		if caller.Header != nil {
			return caller.Header(c.Sticky.Header)
		}
	}
	return ""
}

// Shadow reports whether this request should be copied to the route's shadow
// target, drawing against its sample rate.
func (t *Table) Shadow(model string) (Target, bool) {
	c, ok := t.routes[model]
	if !ok || c.Shadow == nil {
		return Target{}, false
	}
	if rand.Float64() >= c.Shadow.Sample {
		return Target{}, false
	}
	return c.Shadow.Target(), true
}
