package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// StartCPUProfile writes a CPU profile to path until the returned stop is
// called.
func StartCPUProfile(path string, stderr io.Writer) (stop func(), err error) {
	return startRecording("cpu profile", path, stderr, pprof.StartCPUProfile, pprof.StopCPUProfile, nil)
}

// StartTrace writes a runtime execution trace to path until the returned
// stop is called.
func StartTrace(path string, stderr io.Writer) (stop func(), err error) {
	return startRecording("trace", path, stderr, trace.Start, trace.Stop, nil)
}

// memProfileRate samples one allocation per 4 KiB allocated (the default
// is 512 KiB), enough to rank the allocations of one request.
const memProfileRate = 4096

// StartMemProfile samples heap allocations from now on and, when the
// returned stop is called, writes the allocation profile to path
// (go tool pprof -sample_index=alloc_space).
func StartMemProfile(path string, stderr io.Writer) (stop func(), err error) {
	return startRecording("memory profile", path, stderr,
		func(io.Writer) error { runtime.MemProfileRate = memProfileRate; return nil },
		nil, func(f io.Writer) error { return pprof.Lookup("allocs").WriteTo(f, 0) })
}

// startRecording creates path, starts a runtime recording into it and
// returns what stops it (end, when not nil), writes a snapshot into it
// (snapshot, when not nil) and closes the file.
func startRecording(what, path string, stderr io.Writer, start func(io.Writer) error, end func(),
	snapshot func(io.Writer) error) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := start(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return func() {
		if end != nil {
			end()
		}
		if snapshot != nil {
			if err := snapshot(f); err != nil {
				fmt.Fprintf(stderr, "ragway: %s: %v\n", what, err)
			}
		}
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "ragway: %s: %v\n", what, err)
		}
	}, nil
}
