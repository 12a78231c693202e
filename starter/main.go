// Command starter serves Herald's webhook and API: every Alertmanager alert
// is handed to its Temporal workflow before the webhook answers.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/herald-alerts/herald/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Starter(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
