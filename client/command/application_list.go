package command

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// applicationListOptions are the options of the application list command.
type applicationListOptions struct {
	global  *globalOptions
	state   epermitv1.ApplicationState
	channel epermitv1.ApplicationChannel
	overdue bool
	page    pageOptions
}

// newApplicationListCommand returns the application list command.
func newApplicationListCommand(g *globalOptions) *cobra.Command {
	o := &applicationListOptions{global: g}
	cmd := &cobra.Command{
		Use:   "list [--state STATE] [--channel CHANNEL] [--overdue] [--page-size N] [--page-token T] [--all]",
		Short: "List applications, and count the overdue ones",
		Long: `List the node's applications in the order they were submitted, optionally
only those in one state, that came in one way, or that are overdue (accepted
and past their deadline now), one page at a time.

Every listing ends with the number of overdue applications, whatever the
filter (on standard error in the table mode, as overdue_count in JSON). The
table shows the citizen id with the date of birth masked; -o json shows the
node's response unmasked. --all follows the pages to the end.`,
		Example: `  permitctl application list --overdue
  permitctl application list --state materials-required
  permitctl application list --channel remote --all -o json`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of application list on fs.
func (o *applicationListOptions) addFlags(fs *pflag.FlagSet) {
	fs.Var(enumFlag[epermitv1.ApplicationState]{target: &o.state, typ: "state"}, "state",
		"only applications in this `state`: "+strings.Join(enumWords[epermitv1.ApplicationState](), ", "))
	fs.Var(enumFlag[epermitv1.ApplicationChannel]{target: &o.channel, typ: "channel"}, "channel",
		"only applications that came in this `way`: "+strings.Join(enumWords[epermitv1.ApplicationChannel](), ", "))
	fs.BoolVar(&o.overdue, "overdue", false, "only applications past their deadline")
	o.page.addFlags(fs, "applications", 500)
}

// run lists the applications and prints them.
func (o *applicationListOptions) run(cmd *cobra.Command, _ []string) error {
	if err := o.page.check(cmd); err != nil {
		return err
	}
	req := &epermitv1.ListApplicationsRequest{
		State: o.state, Channel: o.channel, Overdue: o.overdue, PageSize: o.page.size,
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		list := &epermitv1.ListApplicationsResponse{}
		next, err := o.page.follow(func(token string) (string, error) {
			req.PageToken = token
			resp, err := c.Applications.ListApplications(ctx, req)
			list.Applications = append(list.Applications, resp.GetApplications()...)
			list.OverdueCount = resp.GetOverdueCount()
			return resp.GetNextPageToken(), err
		})
		if err != nil {
			return err
		}
		list.NextPageToken = next
		return applicationPrinterOf(o.global).Applications(list)
	})
}
