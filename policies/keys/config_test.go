package keys

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{name: "defaults", yaml: `{}`},
		{name: "postgres", yaml: "store: postgres\npostgres: {dsn: 'postgres://u:p@h/db'}\ncache_ttl: 5s\npepper: 0123456789abcdef"},
		{name: "postgres env", yaml: "store: postgres\npostgres: {dsn_env: KEYS_DSN}"},
		{name: "bad", yaml: "store: mysql\ncache_ttl: 2m\nnegative_cache_ttl: -1s\ncache_size: -1\nrotation_grace: -1h\npepper: short",
			wantErr: []string{"keys.store", "keys.cache_ttl", "keys.negative_cache_ttl", "keys.cache_size", "keys.rotation_grace", "keys.pepper"}},
		{name: "postgres without dsn", yaml: "store: postgres", wantErr: []string{"keys.postgres.dsn"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			dec := yaml.NewDecoder(bytes.NewBufferString(tc.yaml))
			dec.KnownFields(true)
			require.NoError(t, dec.Decode(&c))
			err := c.WithDefaults().Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestConfigDefaultsAndSecrets(t *testing.T) {
	c := Config{Pepper: "0123456789abcdef-pepper", Postgres: Postgres{DSN: "postgres://u:hunter2@h/db"}}.WithDefaults()
	require.Equal(t, StoreEmbedded, c.Store)
	require.Equal(t, "keys.db", c.Path)
	require.Equal(t, 2*time.Second, c.CacheTTL)
	require.Equal(t, DefaultCacheSize, c.CacheOptions().MaxEntries)
	require.Equal(t, c.Pepper, c.ServiceOptions().Pepper)
	out, err := yaml.Marshal(c)
	require.NoError(t, err)
	for _, s := range []string{string(out), fmt.Sprintf("%v %+v %#v", c, c, c)} {
		require.NotContains(t, s, "hunter2")
		require.NotContains(t, s, "pepper\n")
		require.NotContains(t, s, "0123456789abcdef")
	}
}
