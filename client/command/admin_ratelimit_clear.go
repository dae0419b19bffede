package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// adminRateLimitClearOptions are the options of the admin ratelimit clear
// command.
type adminRateLimitClearOptions struct {
	global *globalOptions
}

// newAdminRateLimitClearCommand returns the admin ratelimit clear command.
func newAdminRateLimitClearCommand(g *globalOptions) *cobra.Command {
	o := &adminRateLimitClearOptions{global: g}
	return &cobra.Command{
		Use:   "clear KEY",
		Short: "Remove one key's override; the default applies again",
		Long: `Remove the override of KEY and print the override removed. The key falls
back to the default limit of its kind at once, on every replica. The node
answers not found when KEY has no override.`,
		Example: `  permitctl admin ratelimit clear caller:portal-bot`,
		Args:    exactArgs("KEY"),
		RunE:    o.run,
	}
}

// run removes the override and prints it.
func (o *adminRateLimitClearOptions) run(cmd *cobra.Command, args []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.RateLimits.ClearRateLimitOverride(ctx, &epermitv1.ClearRateLimitOverrideRequest{Key: args[0]})
		if err != nil {
			return err
		}
		return rateLimitPrinterOf(o.global).RateLimitOverride(resp.GetOverride(), "cleared")
	})
}
