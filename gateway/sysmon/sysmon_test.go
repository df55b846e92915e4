package sysmon

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValid(t *testing.T) {
	for _, p := range []string{Normal, Low, Idle} {
		require.True(t, Valid(p), p)
	}
	for _, p := range []string{"", "high", "IDLE", "nice"} {
		require.False(t, Valid(p), p)
		_, err := Lower(p)
		require.ErrorContains(t, err, "unknown priority", p)
	}
	tid, err := Lower(Normal)
	require.NoError(t, err)
	require.Zero(t, tid, "normal changes nothing")
}
