package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/embedded"
	"github.com/ragway/ragway/retrieval/retrievaltest"
)

// crashDirEnv makes the test binary a writer that prints each file id once
// its ReplaceFile returned, until it is killed.
const crashDirEnv = "RAGWAY_EMBEDDED_CRASH_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashWriter(dir)
		return
	}
	os.Exit(m.Run())
}

func crashWriter(dir string) {
	ctx := context.Background()
	s, err := embedded.Open(ctx, dir, embedded.Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		id := "f" + strconv.Itoa(i)
		chunks := make([]retrieval.Chunk, 3)
		for j := range chunks {
			chunks[j] = retrievaltest.Chunk(id, j, "acknowledged "+id, retrievaltest.Vec(i+j, 0.1), map[string]any{"file": float64(i)})
		}
		if err := s.ReplaceFile(ctx, "t", "c", id, chunks); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("ack", id)
	}
}

func TestCrashLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	acked := map[string]bool{}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			require.True(t, strings.HasPrefix(line, "ack "), "writer said %q", line)
			acked[strings.TrimPrefix(line, "ack ")] = true
			if n++; n == 40+round*25 {
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				break
			}
		}
		_ = cmd.Wait()

		// The writer restarts from f0 each round, so later rounds replace
		// files mid-log as well as add them.
		s, err := embedded.Open(ctx, dir, embedded.Options{})
		require.NoError(t, err)
		for id := range acked {
			res, err := s.Search(ctx, retrieval.Query{Tenant: "t", Collection: "c", Text: "acknowledged " + id, K: 10, Mode: retrieval.ModeLexical,
				Filter: &retrieval.Filter{Type: "eq", Key: "file", Value: mustFloat(t, strings.TrimPrefix(id, "f"))}})
			require.NoError(t, err)
			require.Len(t, res, 3, "file %s was acknowledged", id)
		}
		require.NoError(t, s.Close())
	}
}

func mustFloat(t *testing.T, s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return f
}
