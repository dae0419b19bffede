package command

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// adminRotateOptions are the options of the admin rotate command.
type adminRotateOptions struct {
	global *globalOptions
	yes    bool
}

// newAdminRotateCommand returns the admin rotate command.
func newAdminRotateCommand(g *globalOptions) *cobra.Command {
	o := &adminRotateOptions{global: g}
	cmd := &cobra.Command{
		Use:   "rotate NAME [--yes]",
		Short: "Give a person account a new token; prints it once",
		Long: `Replace the bearer token of a person account and print the account with the
new token, this once; the warning goes to standard error and -o json
carries the token as "token". The old token stops working at once and
cannot be brought back. System accounts have no token: replace their client
certificate instead.

Unless --yes is given, permitctl asks on the terminal for the account name
to be typed back; any other answer aborts with exit status 1 and nothing is
sent. When standard input is not a terminal, rotate refuses to run without
--yes.`,
		Example: `  permitctl admin rotate clerk.wang
  permitctl admin rotate clerk.wang --yes -o json`,
		Args: exactArgs("NAME"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of admin rotate on fs.
func (o *adminRotateOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
}

// run confirms, rotates the token and prints the account with it.
func (o *adminRotateOptions) run(cmd *cobra.Command, args []string) error {
	if err := canConfirm(cmd, o.yes); err != nil {
		return err
	}
	name := args[0]
	if !o.yes {
		question := fmt.Sprintf("Replace the token of %s? The current token stops working at once.", name)
		if err := confirm(cmd.InOrStdin(), cmd.ErrOrStderr(), question, name, "account name"); err != nil {
			return err
		}
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Accounts.RotateToken(ctx, &epermitv1.RotateTokenRequest{Name: name})
		if err != nil {
			return err
		}
		return o.global.printer.Account(accountResult{Account: resp.GetAccount(), Token: resp.GetToken()})
	})
}
