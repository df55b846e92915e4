package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"dir", Config{Dir: "/data"}, ""},
		{"path", Config{Path: "/data/q.db"}, ""},
		{"no path", Config{}, "path or dir is required"},
		{"query in path", Config{Path: "/q.db?mode=ro"}, "must not contain"},
		{"short lease", Config{Dir: "/d", Lease: time.Millisecond}, "lease"},
		{"workers", Config{Dir: "/d", Workers: -1}, "workers"},
		{"retry", Config{Dir: "/d", RetryInitial: time.Minute, RetryMax: time.Second}, "retry_initial"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.WithDefaults().Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
	require.Equal(t, "/data/"+DefaultFile, Config{Dir: "/data"}.WithDefaults().Path)
}

func TestBackoff(t *testing.T) {
	c := Config{RetryInitial: time.Second, RetryMax: 5 * time.Second}
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, c.backoff(n))
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, got)
}
