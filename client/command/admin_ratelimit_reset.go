package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// adminRateLimitResetOptions are the options of the admin ratelimit reset
// command.
type adminRateLimitResetOptions struct {
	global *globalOptions
}

// newAdminRateLimitResetCommand returns the admin ratelimit reset command.
func newAdminRateLimitResetCommand(g *globalOptions) *cobra.Command {
	o := &adminRateLimitResetOptions{global: g}
	return &cobra.Command{
		Use:   "reset KEY",
		Short: "Refill one key's bucket",
		Long: `Refill the bucket of KEY (caller:<account> or citizen:<citizen id>): its
next changes are allowed up to the whole burst again, on every replica.
Its override, if any, stays.`,
		Example: `  permitctl admin ratelimit reset caller:clerk.wang`,
		Args:    exactArgs("KEY"),
		RunE:    o.run,
	}
}

// run resets the bucket and says so.
func (o *adminRateLimitResetOptions) run(cmd *cobra.Command, args []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.RateLimits.ResetRateLimit(ctx, &epermitv1.ResetRateLimitRequest{Key: args[0]})
		if err != nil {
			return err
		}
		return rateLimitPrinterOf(o.global).RateLimitReset(args[0], resp)
	})
}
