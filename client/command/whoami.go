package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// whoAmIOptions are the options of the whoami command.
type whoAmIOptions struct {
	global *globalOptions
}

// newWhoAmICommand returns the whoami command.
func newWhoAmICommand(g *globalOptions) *cobra.Command {
	o := &whoAmIOptions{global: g}
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the account the node knows you as",
		Long: `Show the account the node authenticated you as: its name, how it
authenticated you (token or certificate), its kind, roles and division. Open
to every account; a quick check of --token, --token-file or --cert and --key.`,
		Example: `  permitctl --token-file clerk.token whoami
  permitctl --ca ca.pem --cert partner.pem --key partner.key --server permitd.330604.example:7700 whoami`,
		Args: exactArgs(),
		RunE: o.run,
	}
}

// run asks the node who the caller is and prints the account.
func (o *whoAmIOptions) run(cmd *cobra.Command, _ []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Accounts.WhoAmI(ctx, &epermitv1.WhoAmIRequest{})
		if err != nil {
			return err
		}
		return o.global.printer.WhoAmI(resp)
	})
}
