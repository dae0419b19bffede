package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// requestRetryOptions are the options of the request retry command.
type requestRetryOptions struct {
	global  *globalOptions
	request requestOptions
}

// newRequestRetryCommand returns the request retry command.
func newRequestRetryCommand(g *globalOptions) *cobra.Command {
	o := &requestRetryOptions{global: g}
	cmd := &cobra.Command{
		Use:   "retry REQUEST_ID [--request-id ID]",
		Short: "Put a failed service request back in the outbox",
		Long: `Put a service request whose delivery failed after the last attempt back in
the outbox, and print it: it is submitted again and the node delivers it
to its department with a fresh round of attempts. The node refuses a
request that is not failed. 'permitctl request list --state failed' lists
the ones to retry.`,
		Example: `  permitctl request list --state failed
  permitctl request retry S330604-0G3K4A1B2C3D4`,
		Args: exactArgs("REQUEST_ID"),
		RunE: o.run,
	}
	o.request.addFlags(cmd.Flags())
	return cmd
}

// run retries the request and prints it.
func (o *requestRetryOptions) run(cmd *cobra.Command, args []string) error {
	req := &epermitv1.RetryServiceRequestRequest{RequestId: o.request.id(), Id: args[0]}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Scenarios.RetryServiceRequest(ctx, req)
		if err != nil {
			return o.request.explain(err)
		}
		return scenarioPrinterOf(o.global).ServiceRequest(resp.GetRequest())
	})
}
