package command

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// suspendOptions are the options of the suspend command.
type suspendOptions struct {
	global  *globalOptions
	reason  string
	version versionOptions
	request requestOptions
}

// newSuspendCommand returns the suspend command.
func newSuspendCommand(g *globalOptions) *cobra.Command {
	o := &suspendOptions{global: g}
	cmd := &cobra.Command{
		Use:   "suspend PERMIT_ID --reason TEXT [--if-version N] [--request-id ID]",
		Short: "Suspend a permit by hand, with a reason",
		Long: `Suspend the functions of a permit (使用功能中止) by hand and print the permit.
The reason is recorded and shown to verifiers. 'permitctl reinstate' lifts
the suspension.`,
		Example: `  permitctl suspend 330604-4F7K2M9QXW3B7 --reason "residence address under review"`,
		Args:    exactArgs("PERMIT_ID"),
		RunE:    o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of suspend on fs.
func (o *suspendOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.reason, "reason", "", "why the permit is suspended: `text` of 1-200 characters (required)")
	o.version.addFlags(fs)
	o.request.addFlags(fs)
}

// run suspends the permit and prints it.
func (o *suspendOptions) run(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "reason"); err != nil {
		return err
	}
	id := args[0]
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		v, err := o.version.version(ctx, cmd, c, id)
		if err != nil {
			return err
		}
		resp, err := c.Permits.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{
			RequestId: o.request.id(), PermitId: id, Version: v, Reason: o.reason,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return o.global.printer.Permit(resp.GetPermit(), nil)
	})
}
