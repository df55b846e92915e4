package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"

	"golang.org/x/term"

	evalbench "github.com/ragway/ragway/evals/bench"
)

// bench runs the gateway overhead benchmark: direct to a fake upstream vs
// through a gateway child process, pinned to separate CPUs when it can.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "retrieval":
			return benchRetrieval(ctx, args[1:], stdout, stderr)
		case "vectors":
			return benchVectors(ctx, args[1:], stdout, stderr)
		case "ingest":
			return benchIngest(ctx, args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := evalbench.DefaultOptions
	fs.IntVar(&o.Requests, "requests", o.Requests, "requests per path at concurrency 1")
	fs.IntVar(&o.Warmup, "warmup", o.Warmup, "warm-up requests per path before measuring")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "duration of the throughput phase per path")
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "requests in flight in the throughput phase")
	fs.IntVar(&o.Streams, "streams", o.Streams, "streamed requests per path")
	fs.IntVar(&o.Chunks, "chunks", o.Chunks, "content chunks per streamed reply")
	redisAddr := fs.String("redis", os.Getenv("RAGWAY_TEST_REDIS_ADDR"),
		"Redis `ADDR` for the auth and limits row with limits in Redis (default $RAGWAY_TEST_REDIS_ADDR; none skips that row)")
	noPin := fs.Bool("no-pin", false, "do not pin the gateway and the load generator to separate CPUs")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout (the table goes to stderr)")
	cpuProfile := fs.String("cpuprofile", "", "afterwards, load a fresh gateway for --duration and write its CPU profile to `FILE`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("bench: unexpected argument %q", fs.Arg(0))}
	}
	if err := o.Validate(); err != nil {
		return usageError{fmt.Sprintf("bench: %v", err)}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find the ragway binary: %w", err)
	}
	var pin evalbench.Pinning
	if v := os.Getenv(evalbench.PinEnv); v != "" {
		if pin, err = evalbench.ParsePinEnv(v); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	} else if pin = evalbench.PlanPinning(*noPin); pin.Pinned {
		// Run again under taskset so every thread of the load generator
		// and the fake upstream stays on the load CPU.
		return evalbench.Reexec(ctx, pin, exe, append([]string{"bench"}, args...), os.Environ(), stdout, stderr)
	}
	if *cpuProfile != "" {
		if *cpuProfile, err = filepath.Abs(*cpuProfile); err != nil {
			return fmt.Errorf("bench: cpuprofile: %w", err)
		}
	}
	r := evalbench.Runner{
		Options:    o,
		Launcher:   evalbench.Child{Exe: exe, Pinning: pin},
		Pinning:    pin,
		Progress:   stderr,
		Bars:       isTerminal(stderr),
		CPUProfile: *cpuProfile,
		RedisAddr:  *redisAddr,
	}
	rep, err := r.Run(ctx)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if *asJSON {
		if err := rep.WriteTable(stderr); err != nil {
			return err
		}
		return rep.WriteJSON(stdout)
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if *cpuProfile != "" {
		fmt.Fprintf(stdout, "\ncpu profile of the gateway at c=%d: %s (go tool pprof -top %s %s)\n",
			o.Concurrency, *cpuProfile, exe, *cpuProfile)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startCPUProfile writes a CPU profile to path until the returned stop is
// called.
func startCPUProfile(path string, stderr io.Writer) (stop func(), err error) {
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
