package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// newRequestShowCommand returns the request show command.
func newRequestShowCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show REQUEST_ID",
		Short: "Show a service request with its history",
		Long: `Show one service request: the service, its department, the permit and its
holder, the child and the request fields, its state and the last reason, the
rule version that admitted it with its conditions, the delivery attempts
made and when the next is due, the department's reference, and the history
of every change of state: when, to what, by whom (an account, the outbox or
the department) and why.`,
		Example: `  permitctl request show S330604-0G3K4A1B2C3D4
  permitctl request show S330604-0G3K4A1B2C3D4 -o json`,
		Args: exactArgs("REQUEST_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Scenarios.GetServiceRequest(ctx, &epermitv1.GetServiceRequestRequest{Id: args[0]})
				if err != nil {
					return err
				}
				return scenarioPrinterOf(g).ServiceRequest(resp.GetRequest())
			})
		},
	}
}
