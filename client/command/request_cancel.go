package command

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// requestCancelOptions are the options of the request cancel command.
type requestCancelOptions struct {
	global  *globalOptions
	reason  string
	yes     bool
	request requestOptions
}

// newRequestCancelCommand returns the request cancel command.
func newRequestCancelCommand(g *globalOptions) *cobra.Command {
	o := &requestCancelOptions{global: g}
	cmd := &cobra.Command{
		Use:   "cancel REQUEST_ID --reason TEXT [--yes] [--request-id ID]",
		Short: "Cancel a service request the department has not decided yet",
		Long: `Cancel a service request, for instance when the resident withdraws it, and
print it. The node cancels only a request its department has not decided
yet, and refuses one that is final (rejected, completed or cancelled). The
reason is kept in the request's history. A cancelled request is final.

Unless --yes is given, permitctl reads the request and asks on the terminal
for its id to be typed back; any other answer aborts with exit status 1 and
nothing is sent. When standard input is not a terminal, cancel refuses to
run without --yes.`,
		Example: `  permitctl request cancel S330604-0G3K4A1B2C3D4 --reason "申请人撤回 / withdrawn by the resident"
  permitctl request cancel S330604-0G3K4A1B2C3D4 --reason "submitted twice" --yes -o json`,
		Args: exactArgs("REQUEST_ID"),
		RunE: o.run,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.reason, "reason", "", "why the request is cancelled, kept in its history (required)")
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
	o.request.addFlags(fs)
	return cmd
}

// run confirms, cancels the request and prints it.
func (o *requestCancelOptions) run(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "reason"); err != nil {
		return err
	}
	if strings.TrimSpace(o.reason) == "" {
		return usagef(cmd, "--reason must say why")
	}
	if err := canConfirm(cmd, o.yes); err != nil {
		return err
	}
	id := args[0]
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		if !o.yes {
			resp, err := c.Scenarios.GetServiceRequest(ctx, &epermitv1.GetServiceRequestRequest{Id: id})
			if err != nil {
				return err
			}
			if err := confirmRequestCancel(cmd.InOrStdin(), cmd.ErrOrStderr(), resp.GetRequest()); err != nil {
				return err
			}
		}
		resp, err := c.Scenarios.CancelServiceRequest(ctx, &epermitv1.CancelServiceRequestRequest{
			RequestId: o.request.id(), Id: id, Reason: o.reason,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return scenarioPrinterOf(o.global).ServiceRequest(resp.GetRequest())
	})
}

// confirmRequestCancel asks on prompt whether to cancel service request r
// and reads the answer, one line, from in. It returns nil only when the
// answer is the request's id, and errNotConfirmed otherwise.
func confirmRequestCancel(in io.Reader, prompt io.Writer, r *epermitv1.ServiceRequest) error {
	question := fmt.Sprintf("Cancel service request %s (%s for %s, now %s)? A cancelled request is final.",
		r.GetId(), r.GetService(), r.GetHolder().GetName(), optionalWord(r.GetState()))
	return confirm(in, prompt, question, r.GetId(), "request id")
}
