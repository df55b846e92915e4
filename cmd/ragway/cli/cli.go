// Package cli is the ragway command line: it parses arguments and runs the
// subcommands, so that main stays a few lines and every command is testable.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/ragway/ragway/gateway"
	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/gateway/heapfloor"
	"github.com/ragway/ragway/gateway/sysmon"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// usageError is a bad command line; it exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// ExitCode returns the process exit status for an error Main returned.
func ExitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `ragway: an OpenAI-compatible RAG and LLM serving gateway

Usage:
  ragway serve [--config FILE] [--addr HOST:PORT] [--data-dir DIR] [--role all|gateway|worker]
  ragway config check FILE
  ragway ingest PATH... --collection NAME [--server URL] [--api-key KEY]
  ragway keys create|list|revoke|rotate --tenant T ...   (ragway keys lists them)
  ragway collections list|migrate|reindex ...   vector store collections: where they live, copy them between stores
  ragway version
`

// Main runs the command line args.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, getenv)
	case "config":
		if len(args) != 3 || args[1] != "check" {
			fmt.Fprint(stderr, usage)
			return usageError{"usage: ragway config check FILE"}
		}
		return configCheck(args[2], stdout, getenv)
	case "ingest":
		return ingestCmd(ctx, args[1:], stdout, stderr, getenv)
	case "keys":
		return keysCmd(ctx, args[1:], stdout, stderr, getenv)
	case "collections":
		return collectionsCmd(ctx, args[1:], stdout, stderr, getenv)
	case "bench":
		return usageError{"the benchmarks are their own binary: make bench, or ragway-bench -h"}
	case "version", "--version":
		fmt.Fprintln(stdout, "ragway", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (default: built-in defaults)")
	addr := fs.String("addr", "", "listen address, overriding server.addr")
	dataDir := fs.String("data-dir", "", "data directory, overriding data_dir")
	role := fs.String("role", "", "all (default), gateway (API only) or worker (ingestion only), overriding server.role")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `FILE` until exit (used by ragway-bench)")
	traceFile := fs.String("trace", "", "write a runtime execution trace to `FILE` until exit")
	memProfile := fs.String("memprofile", "", "sample heap allocations and write their profile to `FILE` at exit")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *memProfile != "" {
		stop, err := StartMemProfile(*memProfile, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *traceFile != "" {
		stop, err := StartTrace(*traceFile, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *cpuProfile != "" {
		stop, err := StartCPUProfile(*cpuProfile, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	cfg, err := loadConfig(*path, getenv)
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Server.Addr = *addr
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	log := gateway.NewLogger(stderr, cfg.Log)
	if f := heapfloor.Start(cfg.Server.GCMinHeapBytes); f != nil {
		defer f.Stop()
		log.Debug("heap floor", "bytes", cfg.Server.GCMinHeapBytes, "gogc", f.Percent())
	}
	switch a, err := sysmon.Lower(cfg.Server.RuntimeMonitor); {
	case err != nil:
		// Not fatal: the gateway serves the same, only with the runtime's
		// default scheduling.
		log.Warn("runtime monitor priority unchanged", "want", cfg.Server.RuntimeMonitor, "error", err)
	case a.Thread != 0:
		log.Info("runtime monitor lowered", "setting", cfg.Server.RuntimeMonitor, "priority", a.Priority,
			"thread", a.Thread, "timer_slack", a.Slack.String())
		if a.SlackErr != nil {
			log.Warn("runtime monitor timer slack unchanged (needs CAP_SYS_NICE)", "error", a.SlackErr)
		}
	}
	srv, err := gateway.New(ctx, cfg, gateway.Options{Logger: log, Role: *role})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("listen: %w", err)
	}
	if *path != "" {
		srv.WatchConfig(ctx, *path, getenv)
	}
	return srv.Serve(ctx, l)
}

func configCheck(path string, stdout io.Writer, getenv func(string) string) error {
	cfg, err := config.Load(path, getenv)
	if err != nil {
		var problems []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			problems = flatten(j.Unwrap())
		} else {
			problems = []error{err}
		}
		for _, p := range problems {
			fmt.Fprintln(stdout, "error:", p)
		}
		return fmt.Errorf("%s: %d problem(s)", path, len(problems))
	}
	fmt.Fprintf(stdout, "%s: ok (%d backends, %d routes)\n", path, len(cfg.Backends), len(cfg.Routes))
	return nil
}

// flatten expands nested errors.Join results into a flat list.
func flatten(errs []error) []error {
	var out []error
	for _, e := range errs {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			out = append(out, flatten(j.Unwrap())...)
			continue
		}
		out = append(out, e)
	}
	return out
}
