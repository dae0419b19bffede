package command

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// requestListOptions are the options of the request list command.
type requestListOptions struct {
	global     *globalOptions
	permitID   string
	state      epermitv1.ServiceRequestState
	department string
	since      string
	until      string
	page       pageOptions
}

// newRequestListCommand returns the request list command.
func newRequestListCommand(g *globalOptions) *cobra.Command {
	o := &requestListOptions{global: g}
	cmd := &cobra.Command{
		Use:   "list [--permit ID] [--state STATE] [--department CODE] [--since TIME] [--until TIME] [--page-size N] [--page-token T] [--all]",
		Short: "List service requests, newest first",
		Long: `List the node's service requests, newest first, optionally only those of one
permit, in one state, for one department or created in a time range, one
page at a time.

TIME is RFC 3339 (2026-03-01T09:30:00+08:00) or a date, YYYY-MM-DD, in China
Standard Time: --since 2026-03-01 starts at the beginning of that day, and
--until 2026-03-31 takes in the whole of that day.

The table shows each request's service, department, permit, holder's name,
state, delivery attempts and last change; -o json shows every field. When
there are more requests, the table mode prints the token of the next page
on standard error and JSON carries it as next_page_token; --all follows
the pages to the end.`,
		Example: `  permitctl request list --state failed
  permitctl request list --permit 330604-4F7K2M9QXW3B7 --all
  permitctl request list --department education --since 2026-03-01 --until 2026-03-31 -o json`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of request list on fs.
func (o *requestListOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.permitID, "permit", "", "only the requests for the permit with this `id`")
	fs.Var(enumFlag[epermitv1.ServiceRequestState]{target: &o.state, typ: "state"}, "state",
		"only requests in this `state`: "+strings.Join(enumWords[epermitv1.ServiceRequestState](), ", "))
	fs.StringVar(&o.department, "department", "", "only requests for the department with this `code`, e.g. education")
	fs.StringVar(&o.since, "since", "", "only requests created at or after this `time` (RFC 3339, or YYYY-MM-DD in China Standard Time)")
	fs.StringVar(&o.until, "until", "", "only requests created before this `time`; a date YYYY-MM-DD includes that whole day")
	o.page.addFlags(fs, "requests", 1000)
}

// run lists the requests and prints them.
func (o *requestListOptions) run(cmd *cobra.Command, _ []string) error {
	if err := o.page.check(cmd); err != nil {
		return err
	}
	start, end, err := timeRange(cmd, o.since, o.until)
	if err != nil {
		return err
	}
	req := &epermitv1.ListServiceRequestsRequest{
		PermitId: o.permitID, State: o.state, Department: o.department, StartTime: start, EndTime: end,
		PageSize: o.page.size,
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		list := &epermitv1.ListServiceRequestsResponse{}
		next, err := o.page.follow(func(token string) (string, error) {
			req.PageToken = token
			resp, err := c.Scenarios.ListServiceRequests(ctx, req)
			list.Requests = append(list.Requests, resp.GetRequests()...)
			return resp.GetNextPageToken(), err
		})
		if err != nil {
			return err
		}
		list.NextPageToken = next
		return scenarioPrinterOf(o.global).ServiceRequests(list)
	})
}
