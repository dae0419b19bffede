package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// newApplicationShowCommand returns the application show command.
func newApplicationShowCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show APPLICATION_ID",
		Short: "Show an application",
		Long: `Show one application: the applicant, the materials provided and those still
missing, its state, the deadline and whether it is overdue now, the permit
issued or the reasons of a rejection, and who did what.`,
		Example: `  permitctl application show A330604-0G3K2M9QXW3B7
  permitctl application show A330604-0G3K2M9QXW3B7 -o json`,
		Args: exactArgs("APPLICATION_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Applications.GetApplication(ctx, &epermitv1.GetApplicationRequest{ApplicationId: args[0]})
				if err != nil {
					return err
				}
				return applicationPrinterOf(g).Application(resp.GetApplication(), nil)
			})
		},
	}
}
