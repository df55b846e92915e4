package milvus

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
)

var milvusNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func checkName(t *testing.T, name string) {
	t.Helper()
	require.Regexp(t, milvusNameRE, name)
	require.LessOrEqual(t, len(name), maxNameLen)
}

func TestCollectionName(t *testing.T) {
	require.Equal(t, "ragway_acme_docs_", collectionName("ragway", "acme", "docs")[:len("ragway_acme_docs_")])
	require.Equal(t, collectionName("ragway", "acme", "docs"), collectionName("ragway", "acme", "docs"), "stable")
	pairs := [][2]string{
		{"acme", "docs"}, {"acme", "Docs"}, {"ACME", "docs"}, {"docs", "acme"},
		{"a_b", "c"}, {"a", "b_c"}, {"ab", "c"}, {"a", "bc"}, {"", "abc"}, {"abc", ""},
		{"a\x00b", "c"}, {"a", "\x00bc"}, {"t", "c-1"}, {"t", "c 1"}, {"t", "c.1"},
		{"ténant", "文档"}, {"t", "💥"}, {"t", "../../etc/passwd"}, {"t", `"; drop collection x; --`},
		{strings.Repeat("x", 5000), strings.Repeat("y", 5000)}, {strings.Repeat("x", 5000), strings.Repeat("y", 4999)},
		{"t", "\xff\xfe"}, {"_", "_"}, {"1", "2"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		for _, prefix := range []string{"ragway", "_x", "P9"} {
			name := collectionName(prefix, p[0], p[1])
			checkName(t, name)
			require.True(t, strings.HasPrefix(name, prefix+"_"))
			key := prefix + "|" + name
			other, dup := seen[key]
			require.False(t, dup, "%q and %q map to %s", p, other, name)
			seen[key] = p
		}
	}
}

func TestDescriptor(t *testing.T) {
	for _, p := range [][2]string{{"acme", "docs"}, {"t\"x", "c\\y"}, {"<t>", "&c"}, {"ténant", "文档"}} {
		name := collectionName("ragway", p[0], p[1])
		ref, ok := parseDescriptor("ragway", name, describe(p[0], p[1]))
		require.True(t, ok)
		require.Equal(t, retrieval.CollectionRef{Tenant: p[0], Collection: p[1]}, ref)
	}
	name := collectionName("ragway", "a", "b")
	for _, desc := range []string{"", "not json", `{"kind":"other","tenant":"a","collection":"b"}`, describe("a", "c"), describe("a", "b") + "x"} {
		_, ok := parseDescriptor("ragway", name, desc)
		require.False(t, ok, "%q", desc)
	}
	_, ok := parseDescriptor("other", name, describe("a", "b"))
	require.False(t, ok, "another prefix's collection")
}

func TestPrimaryKey(t *testing.T) {
	pk := primaryKey("f", "c")
	require.Regexp(t, `^[0-9a-f]{32}$`, pk)
	require.Equal(t, pk, primaryKey("f", "c"))
	require.NotEqual(t, pk, primaryKey("g", "c"))
	require.NotEqual(t, primaryKey("ab", "c"), primaryKey("a", "bc"))
}

func TestCheckRef(t *testing.T) {
	require.NoError(t, checkRef("tenant", "t"))
	for _, bad := range []string{"", "\xff", strings.Repeat("x", maxRefBytes+1)} {
		require.ErrorIs(t, checkRef("tenant", bad), retrieval.ErrInvalidQuery)
	}
}

func FuzzCollectionName(f *testing.F) {
	f.Add("acme", "docs")
	f.Add("a_b", "c")
	f.Add("", "\x00")
	f.Add("ténant", `"] or 1==1`)
	f.Fuzz(func(t *testing.T, tenant, collection string) {
		name := collectionName("ragway", tenant, collection)
		checkName(t, name)
		require.Equal(t, name, collectionName("ragway", tenant, collection))
		if tenant != collection {
			require.NotEqual(t, name, collectionName("ragway", collection, tenant))
		}
		require.NotEqual(t, name, collectionName("ragway", tenant+"x", collection))
		ref, ok := parseDescriptor("ragway", name, describe(tenant, collection))
		require.Equal(t, utf8.ValidString(tenant) && utf8.ValidString(collection), ok, "valid names describe themselves")
		if ok {
			require.Equal(t, retrieval.CollectionRef{Tenant: tenant, Collection: collection}, ref)
		}
	})
}
