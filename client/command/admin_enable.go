package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// adminEnableOptions are the options of the admin enable command.
type adminEnableOptions struct {
	global *globalOptions
}

// newAdminEnableCommand returns the admin enable command.
func newAdminEnableCommand(g *globalOptions) *cobra.Command {
	o := &adminEnableOptions{global: g}
	return &cobra.Command{
		Use:   "enable NAME",
		Short: "Let a disabled account authenticate again",
		Long: `Enable a disabled account and print it. It authenticates again with the
token it had, or its client certificate; to give a person a new token
instead, run 'permitctl admin rotate' as well.`,
		Example: `  permitctl admin enable clerk.wang`,
		Args:    exactArgs("NAME"),
		RunE:    o.run,
	}
}

// run enables the account and prints it.
func (o *adminEnableOptions) run(cmd *cobra.Command, args []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Accounts.EnableAccount(ctx, &epermitv1.EnableAccountRequest{Name: args[0]})
		if err != nil {
			return err
		}
		return o.global.printer.Account(accountResult{Account: resp.GetAccount()})
	})
}
