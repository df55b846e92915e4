package config

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShippedExamples keeps the example configurations in deploy/examples
// valid: each must load with its documented environment.
func TestShippedExamples(t *testing.T) {
	files, err := filepath.Glob("../../deploy/examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	getenv := env(map[string]string{"VLLM_API_KEY": "sk-example-key", "RAGWAY_PG_DSN": "postgres://x@127.0.0.1/x"})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f, getenv)
			require.NoError(t, err)
			require.NotEmpty(t, cfg.Routes)
		})
	}
}
