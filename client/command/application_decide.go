package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// applicationDecideOptions are the options of application approve and
// reject.
type applicationDecideOptions struct {
	global  *globalOptions
	reasons []string
	version appVersionOptions
	request requestOptions
}

// newApplicationApproveCommand returns the application approve command.
func newApplicationApproveCommand(g *globalOptions) *cobra.Command {
	o := &applicationDecideOptions{global: g}
	cmd := &cobra.Command{
		Use:   "approve APPLICATION_ID [--if-version N] [--request-id ID]",
		Short: "Approve an accepted application and issue the permit",
		Long: `Approve an accepted application: the node issues the permit and records the
application approved with the permit id; both are printed. However often an
approval is retried, one permit is issued. The node refuses (already exists)
a citizen who already holds a permit that is not final; the application then
stays accepted.`,
		Example: `  permitctl application approve A330604-0G3K2M9QXW3B7`,
		Args:    exactArgs("APPLICATION_ID"),
		RunE:    o.approve,
	}
	o.version.addFlags(cmd.Flags())
	o.request.addFlags(cmd.Flags())
	return cmd
}

// newApplicationRejectCommand returns the application reject command.
func newApplicationRejectCommand(g *globalOptions) *cobra.Command {
	o := &applicationDecideOptions{global: g}
	cmd := &cobra.Command{
		Use:   "reject APPLICATION_ID --reason TEXT [--reason TEXT ...]",
		Short: "Reject an application, with reasons",
		Long: `Reject an application that is accepted or materials-required, giving one or
more reasons for the applicant (repeat --reason; each up to 200
characters), and print it. A rejected application is final; the applicant
may apply again.`,
		Example: `  permitctl application reject A330604-0G3K2M9QXW3B7 --reason 居住未满六个月 \
    --reason "no proof of employment, residence or study"`,
		Args: exactArgs("APPLICATION_ID"),
		RunE: o.reject,
	}
	cmd.Flags().StringArrayVar(&o.reasons, "reason", nil, "a `reason` told to the applicant; repeat for more (required)")
	o.version.addFlags(cmd.Flags())
	o.request.addFlags(cmd.Flags())
	return cmd
}

// approve approves the application and prints it with the permit.
func (o *applicationDecideOptions) approve(cmd *cobra.Command, args []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		ver, err := o.version.version(ctx, cmd, c, args[0])
		if err != nil {
			return err
		}
		resp, err := c.Applications.ApproveApplication(ctx, &epermitv1.ApproveApplicationRequest{
			RequestId: o.request.id(), ApplicationId: args[0], Version: ver,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return applicationPrinterOf(o.global).Application(resp.GetApplication(), resp.GetPermit())
	})
}

// reject rejects the application and prints it.
func (o *applicationDecideOptions) reject(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "reason"); err != nil {
		return err
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		ver, err := o.version.version(ctx, cmd, c, args[0])
		if err != nil {
			return err
		}
		resp, err := c.Applications.RejectApplication(ctx, &epermitv1.RejectApplicationRequest{
			RequestId: o.request.id(), ApplicationId: args[0], Version: ver, Reasons: o.reasons,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return applicationPrinterOf(o.global).Application(resp.GetApplication(), nil)
	})
}
