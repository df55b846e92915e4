package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// StartCPUProfile writes a CPU profile to path until the returned stop is
// called.
func StartCPUProfile(path string, stderr io.Writer) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(stderr, "ragway: cpu profile:", err)
		}
	}, nil
}
