package sysmon

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValid(t *testing.T) {
	for _, p := range []string{Auto, Normal, Low, Idle} {
		require.True(t, Valid(p), p)
	}
	for _, p := range []string{"", "high", "IDLE", "nice"} {
		require.False(t, Valid(p), p)
		_, err := Lower(p)
		require.ErrorContains(t, err, "unknown priority", p)
	}
	a, err := Lower(Normal)
	require.NoError(t, err)
	require.Equal(t, Applied{Priority: Normal}, a, "normal changes nothing")
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		p    string
		cpus int
		want string
	}{
		{Auto, 1, Idle},
		{Auto, 2, Normal},
		{Auto, 64, Normal},
		{Normal, 1, Normal},
		{Low, 1, Low},
		{Idle, 8, Idle},
	} {
		got, err := resolve(c.p, c.cpus)
		require.NoError(t, err)
		require.Equal(t, c.want, got, "%s on %d CPUs", c.p, c.cpus)
	}
	_, err := resolve("lowest", 1)
	require.ErrorContains(t, err, `unknown priority "lowest"`)
}
