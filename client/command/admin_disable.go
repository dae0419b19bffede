package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// adminDisableOptions are the options of the admin disable command.
type adminDisableOptions struct {
	global *globalOptions
}

// newAdminDisableCommand returns the admin disable command.
func newAdminDisableCommand(g *globalOptions) *cobra.Command {
	o := &adminDisableOptions{global: g}
	return &cobra.Command{
		Use:   "disable NAME",
		Short: "Stop an account from authenticating",
		Long: `Disable an account and print it. Its token, or its client certificate,
stops working at once. 'permitctl admin enable' lets it authenticate again,
with the same token.`,
		Example: `  permitctl admin disable clerk.wang`,
		Args:    exactArgs("NAME"),
		RunE:    o.run,
	}
}

// run disables the account and prints it.
func (o *adminDisableOptions) run(cmd *cobra.Command, args []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Accounts.DisableAccount(ctx, &epermitv1.DisableAccountRequest{Name: args[0]})
		if err != nil {
			return err
		}
		return o.global.printer.Account(accountResult{Account: resp.GetAccount()})
	})
}
