package rbac

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "anything/with:colons", true},
		{"gpt-*", "gpt-4o", true},
		{"gpt-*", "claude", false},
		{"org/*", "org/model:7b", true},
		{"*:7b", "llama:7b", true},
		{"*:7b", "llama:70b", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"**a*b*c**", "xxaxxbxxcxx", true},
		{"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, Match(tc.p, tc.s), "%q vs %q", tc.p, tc.s)
	}
}

func TestAuthorize(t *testing.T) {
	a := New(WithDefaults([]Role{
		{Name: "analyst", Models: []string{"small-*"}, Collections: []string{"finance-*"}},
	}))
	analyst := &policies.Principal{Tenant: "t1", Roles: []string{"analyst"}}
	keyLimited := &policies.Principal{Tenant: "t1", Roles: []string{RoleUser}, Models: []string{"small-a"}}
	admin := &policies.Principal{Tenant: "t1", Roles: []string{RoleAdmin}}
	nobody := &policies.Principal{Tenant: "t1", Roles: []string{"unknown-role"}}
	cases := []struct {
		name   string
		p      *policies.Principal
		action policies.Action
		res    string
		ok     bool
	}{
		{"analyst small model", analyst, policies.ActionUseModel, "small-1", true},
		{"analyst big model", analyst, policies.ActionUseModel, "big-1", false},
		{"analyst collection", analyst, policies.ActionUseCollection, "finance-q3", true},
		{"analyst other collection", analyst, policies.ActionUseCollection, "hr", false},
		{"analyst admin", analyst, policies.ActionAdmin, "keys", false},
		{"analyst force target", analyst, policies.ActionForceTarget, "x", false},
		{"key restriction allows", keyLimited, policies.ActionUseModel, "small-a", true},
		{"key restriction narrows role", keyLimited, policies.ActionUseModel, "small-b", false},
		{"admin tenant ops", admin, policies.ActionAdmin, "keys", true},
		{"admin not global", admin, policies.ActionAdmin, "global", false},
		{"admin force target", admin, policies.ActionForceTarget, "x", true},
		{"unknown role", nobody, policies.ActionUseModel, "small-1", false},
		{"nil principal", nil, policies.ActionUseModel, "small-1", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Authorize(tc.p, tc.action, tc.res)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, policies.ErrForbidden)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, Validate(WithDefaults(nil)))
	err := Validate([]Role{{Name: ""}, {Name: "a", Models: []string{""}}, {Name: "a"}})
	require.ErrorContains(t, err, "name is required")
	require.ErrorContains(t, err, "empty pattern")
	require.ErrorContains(t, err, "duplicate")
}

func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, p, s string) {
		got := Match(p, s)
		if p == s {
			require.True(t, got, "a string always matches itself as a pattern")
		}
		if !containsWildcard(p) {
			require.Equal(t, p == s, got)
		}
		if p == "*" {
			require.True(t, got)
		}
	})
}

func containsWildcard(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] == '*' || p[i] == '?' {
			return true
		}
	}
	return false
}
