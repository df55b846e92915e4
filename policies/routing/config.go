// Package routing turns the model names clients send into upstream targets:
// weighted splits, sticky canaries, forced targets, shadow copies and ordered
// fallbacks. It decides only; calling the chosen target is the gateway's job.
package routing

import (
	"errors"
	"fmt"
	"net/textproto"
	"strings"
)

// Route maps a model name exposed to clients to one or more targets.
type Route struct {
	// Model is the name clients send in "model".
	Model string `yaml:"model"`
	// Targets share the route's traffic in proportion to their weights.
	Targets []Target `yaml:"targets"`
	// Sticky, when set, sends the same caller to the same target.
	Sticky Sticky `yaml:"sticky"`
	// Shadow receives a sampled copy of the route's requests; its answers are
	// recorded and never returned.
	Shadow *Shadow `yaml:"shadow"`
	// Fallbacks are routes tried in order when every try on this one failed.
	Fallbacks []string `yaml:"fallbacks"`
}

// Target is one upstream: a backend and the model name it knows.
type Target struct {
	// Name labels the target in metrics, logs, the X-Ragway-Target headers;
	// it defaults to "backend/model".
	Name    string `yaml:"name"`
	Backend string `yaml:"backend"`
	Model   string `yaml:"model"`
	// Weight is the target's share; 0 means 1 when the route has one target.
	Weight int `yaml:"weight"`
}

// Sticky keys.
const (
	StickyNone   = ""
	StickyUser   = "user"   // the request body's "user" field
	StickyKey    = "key"    // the caller's credential identity
	StickyHeader = "header" // the value of Sticky.Header
)

// Sticky chooses what identifies a caller for sticky routing.
type Sticky struct {
	By     string `yaml:"by"`
	Header string `yaml:"header"`
}

// Shadow is a target that receives a sampled copy of traffic.
type Shadow struct {
	Name    string  `yaml:"name"`
	Backend string  `yaml:"backend"`
	Model   string  `yaml:"model"`
	Sample  float64 `yaml:"sample"`
}

// Label returns the target's name, defaulting to backend/model.
func (t Target) Label() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Backend + "/" + t.Model
}

// Target returns the shadow as a Target.
func (s Shadow) Target() Target {
	return Target{Name: s.Name, Backend: s.Backend, Model: s.Model, Weight: 1}
}

// Validate checks the routes against each other and against the known backend
// names, and reports every problem.
func Validate(routes []Route, backends map[string]bool) error {
	var errs []error
	seen := make(map[string]bool, len(routes))
	for i, r := range routes {
		where := fmt.Sprintf("routes[%d]", i)
		if r.Model != "" {
			where = fmt.Sprintf("route %q", r.Model)
		}
		add := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf(where+": "+format, args...))
		}
		switch {
		case r.Model == "":
			add("model is required")
		case seen[r.Model]:
			add("duplicate route")
		}
		seen[r.Model] = true
		if len(r.Targets) == 0 {
			add("at least one target is required")
		}
		labels := map[string]bool{}
		total := 0
		for j, t := range r.Targets {
			errs = append(errs, checkTarget(fmt.Sprintf("%s: targets[%d]", where, j), t, backends)...)
			if t.Weight < 0 {
				add("targets[%d]: weight must not be negative", j)
			}
			total += t.Weight
			if labels[t.Label()] {
				add("targets[%d]: duplicate target %q (give it a name)", j, t.Label())
			}
			labels[t.Label()] = true
		}
		if total == 0 && len(r.Targets) > 1 {
			add("targets need positive weights")
		}
		switch r.Sticky.By {
		case StickyNone, StickyUser, StickyKey:
			if r.Sticky.Header != "" {
				add("sticky.header is only used with sticky.by: header")
			}
		case StickyHeader:
			if r.Sticky.Header == "" || !validHeaderName(r.Sticky.Header) {
				add("sticky.header must be a valid header name")
			}
		default:
			add("sticky.by must be user, key or header, not %q", r.Sticky.By)
		}
		if s := r.Shadow; s != nil {
			errs = append(errs, checkTarget(where+": shadow", s.Target(), backends)...)
			if s.Sample <= 0 || s.Sample > 1 {
				add("shadow.sample must be in (0, 1]")
			}
		}
	}
	for _, r := range routes {
		for _, f := range r.Fallbacks {
			switch {
			case f == r.Model:
				errs = append(errs, fmt.Errorf("route %q: falls back to itself", r.Model))
			case !seen[f]:
				errs = append(errs, fmt.Errorf("route %q: fallback %q is not a route", r.Model, f))
			}
		}
	}
	return errors.Join(errs...)
}

func checkTarget(where string, t Target, backends map[string]bool) []error {
	var errs []error
	if t.Backend == "" {
		errs = append(errs, fmt.Errorf("%s: backend is required", where))
	} else if backends != nil && !backends[t.Backend] {
		errs = append(errs, fmt.Errorf("%s: unknown backend %q", where, t.Backend))
	}
	if t.Model == "" {
		errs = append(errs, fmt.Errorf("%s: model is required", where))
	}
	return errs
}

func validHeaderName(h string) bool {
	if strings.ContainsAny(h, " \t\r\n:") {
		return false
	}
	return textproto.CanonicalMIMEHeaderKey(h) != ""
}
