package command

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// pendingApproveOptions are the options of the pending approve command.
type pendingApproveOptions struct {
	global  *globalOptions
	yes     bool
	request requestOptions
}

// newPendingApproveCommand returns the pending approve command.
func newPendingApproveCommand(g *globalOptions) *cobra.Command {
	o := &pendingApproveOptions{global: g}
	cmd := &cobra.Command{
		Use:   "approve PENDING_ID [--yes] [--request-id ID]",
		Short: "Approve a cancellation request: cancel or confiscate the permit; cannot be undone",
		Long: `Approve a pending cancellation or confiscation request, as the second
supervisor, and print the permit, now cancelled or confiscated. This is
final: no command undoes it.

The node refuses (permission denied) the supervisor who made the request,
and refuses (failed precondition) a request whose permit has changed since
it was made; the request must then be rejected and made again.

Unless --yes is given, permitctl looks the request up and asks on the
terminal for the permit id to be typed back; any other answer aborts with
exit status 1 and nothing is sent. When standard input is not a terminal,
approve refuses to run without --yes.`,
		Example: `  permitctl pending approve pc-5KQ2M9XW3B7T
  permitctl pending approve pc-5KQ2M9XW3B7T --yes -o json`,
		Args: exactArgs("PENDING_ID"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of pending approve on fs.
func (o *pendingApproveOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
	o.request.addFlags(fs)
}

// run confirms, approves the request and prints the permit.
func (o *pendingApproveOptions) run(cmd *cobra.Command, args []string) error {
	if err := canConfirm(cmd, o.yes); err != nil {
		return err
	}
	id := args[0]
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		if !o.yes {
			pc, err := findPending(ctx, c, id)
			if err != nil {
				return err
			}
			if err := confirmApprove(cmd, pc); err != nil {
				return err
			}
		}
		resp, err := c.Permits.ApproveCancellation(ctx, &epermitv1.ApproveCancellationRequest{
			RequestId: o.request.id(), PendingId: id,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return o.global.printer.Permit(resp.GetPermit(), nil)
	})
}

// findPending returns the pending request id.
func findPending(ctx context.Context, c *client.Client, id string) (*epermitv1.PendingCancellation, error) {
	resp, err := c.Permits.ListPendingCancellations(ctx, &epermitv1.ListPendingCancellationsRequest{})
	if err != nil {
		return nil, err
	}
	for _, pc := range resp.GetPending() {
		if pc.GetId() == id {
			return pc, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no pending cancellation %s; 'permitctl pending list' shows those waiting", id)
}

// confirmApprove asks on the terminal whether to approve pc.
func confirmApprove(cmd *cobra.Command, pc *epermitv1.PendingCancellation) error {
	what := "cancellation"
	if confiscates(pc.GetReason()) {
		what = "confiscation"
	}
	question := fmt.Sprintf("Approve the %s of permit %s (%s), requested by %s? This cannot be undone.",
		what, pc.GetPermitId(), enumWord(pc.GetReason()), pc.GetRequestedBy())
	return confirm(cmd.InOrStdin(), cmd.ErrOrStderr(), question, pc.GetPermitId(), "permit id")
}
