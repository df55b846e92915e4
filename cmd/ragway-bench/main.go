// Command ragway-bench runs Ragway's benchmarks: the gateway's overhead
// against the same requests sent straight to an upstream, retrieval
// quality and vector search speed of the stores, and ingestion through the
// HTTP API. It is a binary of its own so that the benchmark's load
// generator, fake upstream and test clients stay out of the ragway binary
// whose memory and speed it measures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	evalbench "github.com/ragway/ragway/evals/bench"
)

const usage = `ragway-bench: Ragway's benchmarks

Usage:
  ragway-bench [flags]                      gateway overhead vs direct (ragway-bench -h lists the flags)
  ragway-bench retrieval --data DIR         SciFact nDCG@10 and Recall@100 of a store
  ragway-bench vectors [--vectors N]        vector search recall@10 and queries/s
  ragway-bench ingest --data DIR            SciFact corpus through the HTTP API into a store
  ragway-bench proxy --listen ADDR --upstream URL
                                            the reference proxy of --reference go (httputil.ReverseProxy)
`

// usageError is a bad command line; it exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ragway-bench:", err)
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run dispatches to the benchmark args name; flags alone run the gateway
// benchmark.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "retrieval":
			return benchRetrieval(ctx, args[1:], stdout, stderr)
		case "vectors":
			return benchVectors(ctx, args[1:], stdout, stderr)
		case "ingest":
			return benchIngest(ctx, args[1:], stdout, stderr)
		case "gateway":
			return benchGateway(ctx, args[1:], stdout, stderr)
		case evalbench.GoProxyCommand:
			return evalbench.RunGoProxy(ctx, args[1:], stderr)
		case "help":
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	return benchGateway(ctx, args, stdout, stderr)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
