package command

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// listOptions are the options of the list command.
type listOptions struct {
	global    *globalOptions
	citizenID string
	status    epermitv1.PermitStatus
	page      pageOptions
}

// newListCommand returns the list command.
func newListCommand(g *globalOptions) *cobra.Command {
	o := &listOptions{global: g}
	cmd := &cobra.Command{
		Use:   "list [--citizen-id ID] [--status STATUS] [--page-size N] [--page-token T] [--all]",
		Short: "List permits, one page at a time or all",
		Long: `List the node's permits in permit id order, optionally only those of one
citizen or in one status, one page at a time.

The table shows the citizen id with characters 7 to 14 (the date of birth)
masked; -o json shows the node's response unmasked. When there are more
permits, the table mode prints the token of the next page on standard error
and JSON carries it as next_page_token; --all follows the pages to the end.`,
		Example: `  permitctl list --status suspended
  permitctl list --citizen-id 110101199003074514
  permitctl list --all -o json`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of list on fs.
func (o *listOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.citizenID, "citizen-id", "", "only the permits of this citizen `id` number")
	fs.Var(enumFlag[epermitv1.PermitStatus]{target: &o.status, typ: "status"}, "status",
		"only permits in this `status`: "+strings.Join(enumWords[epermitv1.PermitStatus](), ", "))
	o.page.addFlags(fs, "permits", 500)
}

// run lists the permits and prints them.
func (o *listOptions) run(cmd *cobra.Command, _ []string) error {
	if err := o.page.check(cmd); err != nil {
		return err
	}
	req := &epermitv1.ListPermitsRequest{
		CitizenId: o.citizenID,
		Status:    o.status,
		PageSize:  o.page.size,
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		list := &epermitv1.ListPermitsResponse{}
		next, err := o.page.follow(func(token string) (string, error) {
			req.PageToken = token
			resp, err := c.Permits.ListPermits(ctx, req)
			list.Permits = append(list.Permits, resp.GetPermits()...)
			return resp.GetNextPageToken(), err
		})
		if err != nil {
			return err
		}
		list.NextPageToken = next
		return o.global.printer.Permits(list)
	})
}
