package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// adminRateLimitSetOptions are the options of the admin ratelimit set
// command.
type adminRateLimitSetOptions struct {
	global    *globalOptions
	perSecond float64
	burst     int32
	exempt    bool
	note      string
}

// newAdminRateLimitSetCommand returns the admin ratelimit set command.
func newAdminRateLimitSetCommand(g *globalOptions) *cobra.Command {
	o := &adminRateLimitSetOptions{global: g}
	cmd := &cobra.Command{
		Use:   "set KEY (--rate RATE --burst N | --exempt) [--note TEXT]",
		Short: "Give one key its own rate limit, or exempt it",
		Long: `Set the override of KEY (caller:<account> or citizen:<citizen id>) and
print it: --rate (e.g. 5/s, 30/min, 2/h) and --burst (how many changes at
once, 1-1000000), or --exempt for no limit at all. It replaces the key's
override, if any, and takes effect at once on every replica. A caller key
must name an existing account.`,
		Example: `  permitctl admin ratelimit set caller:portal-bot --rate 50/s --burst 100 --note "government-services portal"
  permitctl admin ratelimit set citizen:340104199003077311 --rate 2/h --burst 2
  permitctl admin ratelimit set caller:import.batch --exempt`,
		Args: exactArgs("KEY"),
		RunE: o.run,
	}
	fs := cmd.Flags()
	fs.Var(rateFlag{perSecond: &o.perSecond}, "rate", "sustained `rate`: a number, then /s, /min or /h")
	fs.Int32Var(&o.burst, "burst", 0, "changes allowed at once (`N`, 1-1000000)")
	fs.BoolVar(&o.exempt, "exempt", false, "no limit at all for the key")
	fs.StringVar(&o.note, "note", "", "why, for the other admins: `text` of up to 200 characters")
	return cmd
}

// run sets the override and prints it.
func (o *adminRateLimitSetOptions) run(cmd *cobra.Command, args []string) error {
	if o.exempt && (cmd.Flags().Changed("rate") || cmd.Flags().Changed("burst")) {
		return usagef(cmd, "--exempt takes no --rate or --burst")
	}
	if !o.exempt {
		if err := requireFlags(cmd, "rate", "burst"); err != nil {
			return err
		}
	}
	in := &epermitv1.RateLimitOverride{Key: args[0], Exempt: o.exempt, Note: o.note}
	if !o.exempt {
		in.Limit = &epermitv1.RateLimit{PerSecond: o.perSecond, Burst: o.burst}
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.RateLimits.SetRateLimitOverride(ctx, &epermitv1.SetRateLimitOverrideRequest{Override: in})
		if err != nil {
			return err
		}
		return rateLimitPrinterOf(o.global).RateLimitOverride(resp.GetOverride(), "set")
	})
}
