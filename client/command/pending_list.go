package command

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// pendingListOptions are the options of the pending list command.
type pendingListOptions struct {
	global   *globalOptions
	permitID string
}

// newPendingListCommand returns the pending list command.
func newPendingListCommand(g *globalOptions) *cobra.Command {
	o := &pendingListOptions{global: g}
	cmd := &cobra.Command{
		Use:   "list [--permit PERMIT_ID]",
		Short: "List the cancellation requests waiting for approval",
		Long: `List the cancellation and confiscation requests waiting for a second
supervisor's approval, oldest first: the request id (for 'pending approve'
and 'pending reject'), the permit, the reason, who requested it and when,
and the note. Supervisor work.`,
		Example: `  permitctl pending list
  permitctl pending list --permit 330604-4F7K2M9QXW3B7 -o json`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of pending list on fs.
func (o *pendingListOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.permitID, "permit", "", "only the request for the permit with this `id`")
}

// run lists the pending requests and prints them.
func (o *pendingListOptions) run(cmd *cobra.Command, _ []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Permits.ListPendingCancellations(ctx, &epermitv1.ListPendingCancellationsRequest{PermitId: o.permitID})
		if err != nil {
			return err
		}
		return o.global.printer.PendingCancellations(resp)
	})
}
