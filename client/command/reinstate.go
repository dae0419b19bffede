package command

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// reinstateOptions are the options of the reinstate command.
type reinstateOptions struct {
	global  *globalOptions
	version versionOptions
	request requestOptions
}

// newReinstateCommand returns the reinstate command.
func newReinstateCommand(g *globalOptions) *cobra.Command {
	o := &reinstateOptions{global: g}
	cmd := &cobra.Command{
		Use:   "reinstate PERMIT_ID [--if-version N] [--request-id ID]",
		Short: "Lift a suspension made by hand",
		Long: `Lift a suspension made by hand with 'permitctl suspend' and print the permit.
A suspension for an overdue endorsement is lifted by 'permitctl endorse'
instead.`,
		Example: `  permitctl reinstate 330604-4F7K2M9QXW3B7`,
		Args:    exactArgs("PERMIT_ID"),
		RunE:    o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of reinstate on fs.
func (o *reinstateOptions) addFlags(fs *pflag.FlagSet) {
	o.version.addFlags(fs)
	o.request.addFlags(fs)
}

// run reinstates the permit and prints it.
func (o *reinstateOptions) run(cmd *cobra.Command, args []string) error {
	id := args[0]
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		v, err := o.version.version(ctx, cmd, c, id)
		if err != nil {
			return err
		}
		resp, err := c.Permits.ReinstatePermit(ctx, &epermitv1.ReinstatePermitRequest{
			RequestId: o.request.id(), PermitId: id, Version: v,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return o.global.printer.Permit(resp.GetPermit(), nil)
	})
}
