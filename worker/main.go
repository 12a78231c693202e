// Command worker runs Herald's Temporal worker.
//
//	worker                      run the worker against HERALD_TEMPORAL_ADDRESS
//	worker dev                  run everything locally: embedded Temporal + Web UI, worker, starter
//	worker export -workflow-id ID -out FILE   write a workflow history as JSON
//	worker replay -history FILE...            replay histories against this build's workflows
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/herald-alerts/herald/internal/app/dev"
	"github.com/herald-alerts/herald/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Worker(ctx, os.Args[1:], os.Stdout, os.Stderr, dev.Run))
}
