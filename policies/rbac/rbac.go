// Package rbac grants roles access to models, collections and admin
// operations. A principal may act when one of its roles allows it and, for
// models, when its own restriction (an API key's --models) allows it too.
package rbac

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ragway/ragway/policies"
)

// Role is one named set of grants. Patterns are globs where * matches any
// run of characters (slashes and colons included) and ? one character.
type Role struct {
	Name        string   `yaml:"name"`
	Models      []string `yaml:"models"`
	Collections []string `yaml:"collections"`
	// Admin grants the admin API for the principal's own tenant.
	Admin bool `yaml:"admin"`
	// GlobalAdmin grants the admin API across tenants.
	GlobalAdmin bool `yaml:"global_admin"`
	// ForceTarget lets callers pick a route's target with X-Ragway-Target.
	ForceTarget bool `yaml:"force_target"`
}

// Built-in role names, present unless the configuration redefines them.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Defaults are the built-in roles.
var Defaults = []Role{
	{Name: RoleUser, Models: []string{"*"}, Collections: []string{"*"}},
	{Name: RoleAdmin, Models: []string{"*"}, Collections: []string{"*"}, Admin: true, ForceTarget: true},
}

// WithDefaults adds the built-in roles the list does not redefine.
func WithDefaults(roles []Role) []Role {
	out := append([]Role(nil), roles...)
	for _, d := range Defaults {
		found := false
		for _, r := range roles {
			if r.Name == d.Name {
				found = true
			}
		}
		if !found {
			out = append(out, d)
		}
	}
	return out
}

// Validate reports every problem.
func Validate(roles []Role) error {
	var errs []error
	seen := map[string]bool{}
	for i, r := range roles {
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("roles[%d]: name is required", i))
		case seen[r.Name]:
			errs = append(errs, fmt.Errorf("role %q: duplicate", r.Name))
		}
		seen[r.Name] = true
		for _, p := range append(append([]string(nil), r.Models...), r.Collections...) {
			if p == "" {
				errs = append(errs, fmt.Errorf("role %q: empty pattern", r.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// Authorizer decides with a fixed set of roles.
type Authorizer struct {
	roles map[string]Role
}

var _ policies.Authorizer = (*Authorizer)(nil)

// New returns an Authorizer over validated roles.
func New(roles []Role) *Authorizer {
	a := &Authorizer{roles: make(map[string]Role, len(roles))}
	for _, r := range roles {
		a.roles[r.Name] = r
	}
	return a
}

// Known reports whether a role name exists.
func (a *Authorizer) Known(name string) bool {
	_, ok := a.roles[name]
	return ok
}

// Authorize implements policies.Authorizer. Admin resources are checked for
// the principal's tenant; GlobalAdmin is needed for resource "global".
func (a *Authorizer) Authorize(p *policies.Principal, action policies.Action, resource string) error {
	if p == nil {
		return fmt.Errorf("no principal: %w", policies.ErrForbidden)
	}
	if action == policies.ActionUseModel && len(p.Models) > 0 && !MatchAny(p.Models, resource) {
		return fmt.Errorf("model %q is outside the key's models: %w", resource, policies.ErrForbidden)
	}
	for _, name := range p.Roles {
		r, ok := a.roles[name]
		if !ok {
			continue
		}
		switch action {
		case policies.ActionUseModel:
			if MatchAny(r.Models, resource) {
				return nil
			}
		case policies.ActionUseCollection:
			if MatchAny(r.Collections, resource) {
				return nil
			}
		case policies.ActionAdmin:
			if r.GlobalAdmin || (r.Admin && resource != "global") {
				return nil
			}
		case policies.ActionForceTarget:
			if r.ForceTarget {
				return nil
			}
		}
	}
	return fmt.Errorf("%s %q denied: %w", action, resource, policies.ErrForbidden)
}

// MatchAny reports whether s matches one of the glob patterns.
func MatchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if Match(p, s) {
			return true
		}
	}
	return false
}

// Match reports whether s matches the glob pattern: * matches any run of
// characters, ? exactly one, everything else itself.
func Match(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	// Iterative matching with backtracking to the last star: linear in
	// practice, never exponential.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Role returns the named role.
func (a *Authorizer) Role(name string) (Role, bool) {
	r, ok := a.roles[name]
	return r, ok
}
