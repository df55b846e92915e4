package keys

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCredentialRoundTrip(t *testing.T) {
	id, secret, err := newCredential(defaultRand)
	require.NoError(t, err)
	key := formatCredential(id, secret)
	require.Len(t, key, KeyLen)
	require.True(t, IsKey(key))
	gotID, gotSecret, err := parseCredential(key)
	require.NoError(t, err)
	require.Equal(t, id, gotID)
	require.Equal(t, secret, gotSecret)
	require.True(t, validID(id))

	id2, secret2, err := newCredential(defaultRand)
	require.NoError(t, err)
	require.NotEqual(t, id, id2)
	require.NotEqual(t, secret, secret2)

	_, _, err = newCredential(bytes.NewReader(make([]byte, 5)))
	require.Error(t, err, "a short random source fails")
}

func TestParseCredentialRejects(t *testing.T) {
	good := formatCredential(strings.Repeat("a", IDLen), strings.Repeat("b", SecretLen))
	for name, s := range map[string]string{
		"empty":      "",
		"prefix":     Prefix,
		"jwt":        "eyJhbGciOiJIUzI1NiJ9.e30.x",
		"short":      good[:len(good)-1],
		"long":       good + "b",
		"no dash":    strings.Replace(good, "a-b", "aab", 1),
		"bad char":   good[:10] + "1" + good[11:],
		"upper":      strings.ToUpper(good),
		"wrong pfx":  "rgx-" + good[4:],
		"multibyte":  good[:KeyLen-2] + "é",
		"dash moved": Prefix + strings.Repeat("a", IDLen-1) + "-b" + strings.Repeat("b", SecretLen),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := parseCredential(s)
			require.Error(t, err)
		})
	}
	_, _, err := parseCredential(good)
	require.NoError(t, err)
}

func TestHasher(t *testing.T) {
	plain := hasher{}
	peppered := hasher{pepper: []byte("0123456789abcdef")}
	require.Equal(t, HashSHA256, plain.alg())
	require.Equal(t, HashHMACSHA256, peppered.alg())
	d, ok := plain.sum(HashSHA256, "id", "secret")
	require.True(t, ok)
	require.True(t, plain.verify(HashSHA256, "id", "secret", d))
	require.False(t, plain.verify(HashSHA256, "id", "secreT", d))
	require.False(t, plain.verify(HashSHA256, "iD", "secret", d), "the id is bound into the hash")
	hd, ok := peppered.sum(HashHMACSHA256, "id", "secret")
	require.True(t, ok)
	require.NotEqual(t, d, hd)
	require.False(t, plain.verify(HashHMACSHA256, "id", "secret", hd), "no pepper, no match")
	require.False(t, plain.verify("md5", "id", "secret", d))
	require.False(t, plain.verify(HashSHA256, "id", "secret", nil))
}

// FuzzParseCredential checks that parsing never panics and accepts only the
// exact key shape, so garbage never reaches the store.
func FuzzParseCredential(f *testing.F) {
	f.Add(formatCredential(strings.Repeat("a", IDLen), strings.Repeat("7", SecretLen)))
	f.Add("")
	f.Add(Prefix)
	f.Add("Bearer rgw-abc")
	f.Add(Prefix + strings.Repeat("-", KeyLen-len(Prefix)))
	f.Add(strings.Repeat("\xff", KeyLen))
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := parseCredential(s)
		if err != nil {
			require.Empty(t, id)
			require.Empty(t, secret)
			return
		}
		require.Len(t, s, KeyLen)
		require.Equal(t, formatCredential(id, secret), s)
		require.True(t, validID(id))
		require.Len(t, secret, SecretLen)
		require.True(t, validChars(secret))
	})
}
