// Command permitctl is the service-hall clerk's command line for a permitd
// electronic residence permit node. The commands live in package command;
// run "permitctl --help" for their description.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/client/command"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := command.NewRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "permitctl: "+client.Describe(err))
		os.Exit(command.ExitCode(err))
	}
}
