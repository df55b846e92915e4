package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRagwayBinary(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "ragway-bench")
	beside := filepath.Join(dir, "ragway")

	_, err := ragwayBinary("", self)
	require.ErrorContains(t, err, "build it with make build, or pass --ragway")

	require.NoError(t, os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o644))
	_, err = ragwayBinary("", self)
	require.ErrorContains(t, err, "is not an executable file")

	require.NoError(t, os.Chmod(beside, 0o755))
	got, err := ragwayBinary("", self)
	require.NoError(t, err)
	require.Equal(t, beside, got)

	other := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(other, 0o755))
	_, err = ragwayBinary(other, self)
	require.ErrorContains(t, err, "is not an executable file")

	got, err = ragwayBinary(beside, "/elsewhere/ragway-bench")
	require.NoError(t, err)
	require.Equal(t, beside, got)
}

func TestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"help"}, &out, &errOut))
	require.Contains(t, out.String(), "ragway-bench retrieval --data DIR")

	err := run(context.Background(), []string{"--requests", "0", "--ragway", os.Args[0]}, &out, &errOut)
	var ue usageError
	require.ErrorAs(t, err, &ue)
	require.Contains(t, err.Error(), "requests must be")

	err = run(context.Background(), []string{"retrieval"}, &out, &errOut)
	require.ErrorAs(t, err, &ue)
	require.Contains(t, err.Error(), "usage: ragway-bench retrieval")

	err = run(context.Background(), []string{"--no-such-flag"}, &out, &errOut)
	require.ErrorAs(t, err, &ue)
}
