package command

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// endorseOptions are the options of the endorse command.
type endorseOptions struct {
	global  *globalOptions
	version versionOptions
	request requestOptions
}

// newEndorseCommand returns the endorse command.
func newEndorseCommand(g *globalOptions) *cobra.Command {
	o := &endorseOptions{global: g}
	cmd := &cobra.Command{
		Use:   "endorse PERMIT_ID [--if-version N] [--request-id ID]",
		Short: "Record the yearly endorsement (签注) of a permit",
		Long: `Record the yearly endorsement (签注) of a permit and print the permit with its
renewed credential.

The node accepts it once the endorsement window has opened. An endorsement
made after the anniversary, while the permit is suspended for want of it,
is late: it lifts the suspension and the residence years count afresh.`,
		Example: `  permitctl endorse 330604-4F7K2M9QXW3B7
  permitctl endorse 330604-4F7K2M9QXW3B7 --if-version 3`,
		Args: exactArgs("PERMIT_ID"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of endorse on fs.
func (o *endorseOptions) addFlags(fs *pflag.FlagSet) {
	o.version.addFlags(fs)
	o.request.addFlags(fs)
}

// run endorses the permit and prints it.
func (o *endorseOptions) run(cmd *cobra.Command, args []string) error {
	id := args[0]
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		v, err := o.version.version(ctx, cmd, c, id)
		if err != nil {
			return err
		}
		resp, err := c.Permits.EndorsePermit(ctx, &epermitv1.EndorsePermitRequest{
			RequestId: o.request.id(), PermitId: id, Version: v,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return o.global.printer.Permit(resp.GetPermit(), resp.GetCredential())
	})
}
