package command

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// pendingRejectOptions are the options of the pending reject command.
type pendingRejectOptions struct {
	global  *globalOptions
	note    string
	request requestOptions
}

// newPendingRejectCommand returns the pending reject command.
func newPendingRejectCommand(g *globalOptions) *cobra.Command {
	o := &pendingRejectOptions{global: g}
	cmd := &cobra.Command{
		Use:   "reject PENDING_ID [--note TEXT] [--request-id ID]",
		Short: "Reject or withdraw a cancellation request; the permit stays as it is",
		Long: `Reject a pending cancellation or confiscation request, or withdraw it when
you made it, and print the request as it was. The permit is not changed;
a new request may be made later with 'permitctl cancel'.`,
		Example: `  permitctl pending reject pc-5KQ2M9XW3B7T --note "documents incomplete"`,
		Args:    exactArgs("PENDING_ID"),
		RunE:    o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of pending reject on fs.
func (o *pendingRejectOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.note, "note", "", "why, as free `text` of up to 500 characters")
	o.request.addFlags(fs)
}

// run rejects the request and prints it.
func (o *pendingRejectOptions) run(cmd *cobra.Command, args []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Permits.RejectCancellation(ctx, &epermitv1.RejectCancellationRequest{
			RequestId: o.request.id(), PendingId: args[0], Note: o.note,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return o.global.printer.CancellationRejected(resp)
	})
}
