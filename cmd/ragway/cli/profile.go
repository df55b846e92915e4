package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// StartCPUProfile writes a CPU profile to path until the returned stop is
// called.
func StartCPUProfile(path string, stderr io.Writer) (stop func(), err error) {
	return startRecording("cpu profile", path, stderr, pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// StartTrace writes a runtime execution trace to path until the returned
// stop is called.
func StartTrace(path string, stderr io.Writer) (stop func(), err error) {
	return startRecording("trace", path, stderr, trace.Start, trace.Stop)
}

// startRecording creates path, starts a runtime recording into it and
// returns what stops it and closes the file.
func startRecording(what, path string, stderr io.Writer, start func(io.Writer) error, end func()) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := start(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return func() {
		end()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "ragway: %s: %v\n", what, err)
		}
	}, nil
}
