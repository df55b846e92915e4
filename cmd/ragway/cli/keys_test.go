package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/policies/keys"
)

func TestKeysLifecycle(t *testing.T) {
	dir := t.TempDir() + "/data" // created on first use
	getenv := func(string) string { return "" }
	run := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := Main(context.Background(), append([]string{"keys"}, append(args, "--data-dir", dir)...), &out, &errOut, getenv)
		return out.String(), errOut.String(), err
	}
	_, _, err := run("create", "--tenant", "acme", "--name", "ci", "--role", "admn")
	require.Error(t, err)
	require.Equal(t, 2, ExitCode(err), "an unknown role is a usage error")

	out, _, err := run("create", "--tenant", "acme", "--name", "ci", "--role", "user", "--models", "small-*")
	require.NoError(t, err)
	key := strings.TrimSpace(out)
	require.True(t, keys.IsKey(key), out)
	id := strings.Split(key, "-")[1]

	out, _, err = run("list", "--tenant", "acme")
	require.NoError(t, err)
	require.Contains(t, out, id)
	require.Contains(t, out, "small-*")
	require.NotContains(t, out, key, "a key is shown only once")
	out, _, err = run("list", "--tenant", "globex")
	require.NoError(t, err)
	require.NotContains(t, out, id, "tenants see only their own keys")

	out, _, err = run("rotate", "--tenant", "acme", id)
	require.NoError(t, err)
	require.True(t, keys.IsKey(strings.TrimSpace(out)))
	require.NotEqual(t, key, strings.TrimSpace(out))
	_, _, err = run("revoke", "--tenant", "globex", id)
	require.Error(t, err, "another tenant cannot revoke it")
	out, _, err = run("revoke", "--tenant", "acme", id)
	require.NoError(t, err)
	require.Contains(t, out, "revoked "+id)
}
