// Command ragway is the Ragway gateway: an OpenAI-compatible RAG and LLM
// serving gateway in one binary.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ragway/ragway/cmd/ragway/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ragway:", err)
		os.Exit(cli.ExitCode(err))
	}
}
