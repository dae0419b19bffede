package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// adminRateLimitListOptions are the options of the admin ratelimit list
// command.
type adminRateLimitListOptions struct {
	global *globalOptions
}

// newAdminRateLimitListCommand returns the admin ratelimit list command.
func newAdminRateLimitListCommand(g *globalOptions) *cobra.Command {
	o := &adminRateLimitListOptions{global: g}
	return &cobra.Command{
		Use:   "list",
		Short: "List the overrides and the default limits",
		Long: `List every override, ordered by key: its limit or "exempt", its note, and
who set it when. The default limits of callers and citizens are printed
first (to standard error in a table; as caller_default and citizen_default
with -o json).`,
		Example: `  permitctl admin ratelimit list
  permitctl admin ratelimit list -o json`,
		Args: exactArgs(),
		RunE: o.run,
	}
}

// run lists the overrides and prints them.
func (o *adminRateLimitListOptions) run(cmd *cobra.Command, _ []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.RateLimits.ListRateLimitOverrides(ctx, &epermitv1.ListRateLimitOverridesRequest{})
		if err != nil {
			return err
		}
		return rateLimitPrinterOf(o.global).RateLimitOverrides(resp)
	})
}
