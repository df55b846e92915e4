package limits

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"time"
)

// Kind is what a check meters.
type Kind int

// Kinds of checks.
const (
	KindRequests Kind = iota
	KindTokens
	KindConcurrency
	KindBudget
)

// Check is one limit applied to one request: the unit both implementations
// evaluate. Request and token rates are GCRA cells; concurrency is a set of
// in-flight leases; a budget is a counter per calendar period.
type Check struct {
	Kind Kind
	// Scope and LimitName go into the *policies.LimitError.
	Scope     string
	LimitName string
	// Key is the state key, without the store's prefix.
	Key string
	// Limit is the burst of a GCRA cell, the concurrency limit or the
	// budget's tokens.
	Limit int64
	// Interval is a GCRA cell's emission interval per unit, in microseconds.
	Interval float64
	// Cost is 1 for requests and concurrency, the reserved tokens otherwise.
	Cost int64
	// PeriodEnd is when a budget's period ends.
	PeriodEnd time.Time
}

// Names of the token limits in a *policies.LimitError: a budget's is the
// prefix and its period ("budget_day").
const (
	LimitTokensPerMinute = "tokens_per_minute"
	LimitBudgetPrefix    = "budget_"
)

// Plan is a compiled Config: it lists the checks that apply to a request.
type Plan struct {
	rules   []Rule
	reserve int
}

// NewPlan compiles cfg, which must be valid and have its defaults applied.
func NewPlan(cfg Config) *Plan {
	return &Plan{rules: cfg.Rules, reserve: cfg.CompletionReserve}
}

// Reserve returns the tokens Acquire reserves for req: the prompt plus
// min(max_tokens, completion_reserve), or completion_reserve when max_tokens
// is unset, or nothing more when it is NoCompletion.
func (p *Plan) Reserve(req Request) int64 {
	prompt := int64(max(req.PromptTokens, 0))
	completion := int64(0)
	if p.reserve > 0 && req.MaxTokens >= 0 {
		completion = int64(p.reserve)
		if req.MaxTokens > 0 && int64(req.MaxTokens) < completion {
			completion = int64(req.MaxTokens)
		}
	}
	return min(prompt+completion, maxLimit)
}

// Checks appends to dst the checks that apply to req at now and returns it
// with the reserved tokens.
func (p *Plan) Checks(dst []Check, req Request, now time.Time) ([]Check, int64) {
	reserve := p.Reserve(req)
	for i := range p.rules {
		r := &p.rules[i]
		subject, ok := subjectFor(r, req)
		if !ok {
			continue
		}
		base := r.Name + ":" // names are unique
		if r.RequestsPerSecond > 0 {
			dst = append(dst, rateCheck(r, base+"rps:"+subject, "requests_per_second", r.RequestsPerSecond, time.Second))
		}
		if r.RequestsPerMinute > 0 {
			dst = append(dst, rateCheck(r, base+"rpm:"+subject, "requests_per_minute", r.RequestsPerMinute, time.Minute))
		}
		if r.TokensPerMinute > 0 {
			dst = append(dst, Check{
				Kind: KindTokens, Scope: r.Scope, LimitName: LimitTokensPerMinute, Key: base + "tpm:" + subject,
				Limit: r.TokensPerMinute, Interval: float64(time.Minute/time.Microsecond) / float64(r.TokensPerMinute), Cost: reserve,
			})
		}
		if r.Concurrency > 0 {
			dst = append(dst, Check{Kind: KindConcurrency, Scope: r.Scope, LimitName: "concurrency", Key: base + "conc:" + subject, Limit: r.Concurrency, Cost: 1})
		}
		if r.Budget != nil {
			label, end := PeriodOf(r.Budget.Period, now)
			dst = append(dst, Check{
				Kind: KindBudget, Scope: r.Scope, LimitName: LimitBudgetPrefix + r.Budget.Period,
				Key: base + "budget:" + label + ":" + subject, Limit: r.Budget.Tokens, Cost: reserve, PeriodEnd: end,
			})
		}
	}
	return dst, reserve
}

func rateCheck(r *Rule, key, name string, rate int64, per time.Duration) Check {
	burst := rate
	if r.Burst > 0 {
		burst = r.Burst
	}
	return Check{
		Kind: KindRequests, Scope: r.Scope, LimitName: name, Key: key,
		Limit: burst, Interval: float64(per/time.Microsecond) / float64(rate), Cost: 1,
	}
}

// maxSubject bounds the caller-supplied part of a state key; longer ones
// are hashed.
const maxSubject = 128

// CountsTokens reports whether a token rule (tokens per minute or a budget)
// applies to req, that is whether its prompt must be counted (or bounded)
// for Acquire. A caller no token rule applies to is not counted at all.
func (p *Plan) CountsTokens(req Request) bool {
	for i := range p.rules {
		r := &p.rules[i]
		if r.TokensPerMinute <= 0 && r.Budget == nil {
			continue
		}
		if _, ok := matchSubject(r, req); ok {
			return true
		}
	}
	return false
}

// matchSubject returns the part of req that r's scope meters, and whether
// r applies to it.
func matchSubject(r *Rule, req Request) (string, bool) {
	var s string
	switch r.Scope {
	case ScopeGlobal:
		return "*", true
	case ScopeKey:
		s = req.Key
	case ScopeTenant:
		s = req.Tenant
	case ScopeModel:
		s = req.Model
	}
	if s == "" || !Glob(r.Match, s) {
		return "", false
	}
	return s, true
}

func subjectFor(r *Rule, req Request) (string, bool) {
	s, ok := matchSubject(r, req)
	if !ok || r.Scope == ScopeGlobal {
		return s, ok
	}
	if r.Scope == ScopeKey && req.Tenant != "" {
		// A JWT subject is unique only within its tenant: the same subject
		// in two tenants holds two limits.
		s = strconv.Itoa(len(req.Tenant)) + ":" + req.Tenant + "/" + s
	}
	if len(s) > maxSubject {
		sum := sha256.Sum256([]byte(s))
		s = "sha256-" + hex.EncodeToString(sum[:])
	}
	return s, true
}

// PeriodOf returns the label of the UTC calendar period (day or month)
// that contains now, and when it ends.
func PeriodOf(period string, now time.Time) (string, time.Time) {
	u := now.UTC()
	if period == PeriodMonth {
		start := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start.Format("200601"), start.AddDate(0, 1, 0)
	}
	start := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	return start.Format("20060102"), start.AddDate(0, 0, 1)
}

// GCRA evaluates a cost against a generic cell rate algorithm cell whose
// theoretical arrival time is tat, at now (both microseconds). interval is
// the time one unit replenishes in, burst how many units may be spent at
// once. It returns the new tat (unchanged when rejected), whether the cost
// fits, the wait before it would (when rejected), how many units remain
// after the decision, and how long until the cell is full again. The Redis
// script implements the same arithmetic.
func GCRA(tat, now, interval float64, burst, cost int64) (newTat float64, ok bool, retryAfter, remaining, reset float64) {
	tat = math.Max(tat, now)
	next := tat + interval*float64(cost)
	allowAt := next - interval*float64(burst)
	const eps = 1e-6
	if now+eps < allowAt {
		return tat, false, allowAt - now, math.Max(0, math.Floor((now-(tat-interval*float64(burst)))/interval+eps)), tat - now
	}
	return next, true, 0, math.Max(0, math.Floor((now-allowAt)/interval+eps)), next - now
}

// Epoch is the origin of the microsecond times GCRA cells store: recent,
// so that a float64 keeps sub-microsecond precision for decades.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// EpochMicros is Epoch in microseconds since the Unix epoch.
const EpochMicros = 1735689600 * 1000000

// Micros returns t in microseconds since Epoch.
func Micros(t time.Time) float64 { return float64(t.UnixMicro() - EpochMicros) }

// MicrosDuration converts microseconds to a Duration, rounding up.
func MicrosDuration(us float64) time.Duration {
	if us <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(us)) * time.Microsecond
}
