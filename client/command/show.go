package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// showOptions are the options of the show command.
type showOptions struct {
	global *globalOptions
}

// newShowCommand returns the show command.
func newShowCommand(g *globalOptions) *cobra.Command {
	o := &showOptions{global: g}
	return &cobra.Command{
		Use:   "show PERMIT_ID",
		Short: "Show a permit with its status and credential",
		Long: `Show one permit: the holder, the status as of today, the residence years,
when the next endorsement is due and when its window opens, the endorsements
made, any suspension or cancellation, the version and the current credential
text. The citizen id is shown in full.`,
		Example: `  permitctl show 330604-4F7K2M9QXW3B7
  permitctl show 330604-4F7K2M9QXW3B7 -o json`,
		Args: exactArgs("PERMIT_ID"),
		RunE: o.run,
	}
}

// run reads the permit and prints it.
func (o *showOptions) run(cmd *cobra.Command, args []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Permits.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: args[0]})
		if err != nil {
			return err
		}
		return o.global.printer.Permit(resp.GetPermit(), resp.GetCredential())
	})
}
