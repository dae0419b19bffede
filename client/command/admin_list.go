package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// adminListOptions are the options of the admin list command.
type adminListOptions struct {
	global *globalOptions
}

// newAdminListCommand returns the admin list command.
func newAdminListCommand(g *globalOptions) *cobra.Command {
	o := &adminListOptions{global: g}
	return &cobra.Command{
		Use:   "list",
		Short: "List the accounts",
		Long: `List every account of the node, ordered by name: its kind, roles, division,
whether it is enabled, when its token was issued, and its note. Tokens are
never shown again after they are issued.`,
		Example: `  permitctl admin list
  permitctl admin list -o json`,
		Args: exactArgs(),
		RunE: o.run,
	}
}

// run lists the accounts and prints them.
func (o *adminListOptions) run(cmd *cobra.Command, _ []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Accounts.ListAccounts(ctx, &epermitv1.ListAccountsRequest{})
		if err != nil {
			return err
		}
		return o.global.printer.Accounts(resp)
	})
}
