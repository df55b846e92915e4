package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	evalbench "github.com/ragway/ragway/evals/bench"
)

// benchGateway runs the gateway overhead benchmark: direct to a fake
// upstream vs through a ragway child process and, as a yardstick, through
// an nginx child process, pinned to separate CPUs when it can.
func benchGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ragway-bench", flag.ContinueOnError)
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
	gatewayExe := fs.String("ragway", "", "the ragway `BINARY` measured (default: ragway beside this binary)")
	noPin := fs.Bool("no-pin", false, "do not pin the gateway and the load generator to separate CPUs")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout (the table goes to stderr)")
	reference := fs.String("reference", evalbench.ReferenceAuto,
		"the reference proxy measured beside the gateway: auto (nginx when it is installed), nginx, "+
			"go (the Go standard library's httputil.ReverseProxy, the floor of any net/http gateway) or none")
	nginxExe := fs.String("nginx", "", "the nginx `BINARY` of the reference (default: nginx in PATH, else /usr/sbin/nginx)")
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
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find this binary: %w", err)
	}
	exe, err := ragwayBinary(*gatewayExe, self)
	if err != nil {
		return usageError{fmt.Sprintf("bench: %v", err)}
	}
	// Checked here too so that a missing nginx fails before any re-exec.
	if _, _, err := evalbench.ChooseReference(*reference, *nginxExe, self, evalbench.Pinning{}); err != nil {
		return referenceError(err)
	}
	var pin evalbench.Pinning
	if v := os.Getenv(evalbench.PinEnv); v != "" {
		if pin, err = evalbench.ParsePinEnv(v); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	} else if pin = evalbench.PlanPinning(*noPin); pin.Pinned {
		// Run again under taskset so every thread of the load generator
		// and the fake upstream stays on the load CPU.
		return evalbench.Reexec(ctx, pin, self, append([]string{"gateway", "--ragway", exe}, args...), os.Environ(), stdout, stderr)
	}
	if *cpuProfile != "" {
		if *cpuProfile, err = filepath.Abs(*cpuProfile); err != nil {
			return fmt.Errorf("bench: cpuprofile: %w", err)
		}
	}
	ref, refSkipped, err := evalbench.ChooseReference(*reference, *nginxExe, self, pin)
	if err != nil {
		return referenceError(err)
	}
	r := evalbench.Runner{
		Options:          o,
		Launcher:         evalbench.Child{Exe: exe, Pinning: pin},
		Pinning:          pin,
		Progress:         stderr,
		Bars:             isTerminal(stderr),
		CPUProfile:       *cpuProfile,
		RedisAddr:        *redisAddr,
		Reference:        ref,
		ReferenceSkipped: refSkipped,
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

// referenceError is a usage error for a bad --reference mode and a plain
// error for a missing nginx.
func referenceError(err error) error {
	if errors.Is(err, evalbench.ErrReferenceMode) {
		return usageError{fmt.Sprintf("bench: %v", err)}
	}
	return fmt.Errorf("bench: %w", err)
}

// ragwayBinary is the gateway binary to measure: flagValue when set, else
// the ragway next to self.
func ragwayBinary(flagValue, self string) (string, error) {
	p := flagValue
	if p == "" {
		p = filepath.Join(filepath.Dir(self), "ragway")
	}
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("the ragway binary to measure: %w (build it with make build, or pass --ragway)", err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("the ragway binary to measure: %s is not an executable file", p)
	}
	return p, nil
}
