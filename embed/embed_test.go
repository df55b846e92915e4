package embed

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckCompatible(t *testing.T) {
	base := Info{Model: "ragway-lexical", Version: "1", Dimensions: 384}
	tests := []struct {
		name string
		got  Info
		ok   bool
	}{
		{"same", base, true},
		{"other model", Info{Model: "nomic-embed-text", Version: "1", Dimensions: 384}, false},
		{"other version", Info{Model: "ragway-lexical", Version: "2", Dimensions: 384}, false},
		{"other dimensions", Info{Model: "ragway-lexical", Version: "1", Dimensions: 768}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCompatible(base, tt.got)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrModelMismatch)
			var me *MismatchError
			require.True(t, errors.As(err, &me))
			require.Equal(t, base, me.Index)
			require.Equal(t, tt.got, me.Got)
			require.Contains(t, err.Error(), base.String())
		})
	}
	require.Equal(t, "ragway-lexical@1/384", base.String())
}
