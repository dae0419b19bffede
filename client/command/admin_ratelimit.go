package command

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// newAdminRateLimitCommand returns the admin ratelimit command, which
// groups the subcommands of the rate limit overrides.
func newAdminRateLimitCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ratelimit",
		Short: "Override and reset the rate limits on changes",
		Long: `The node limits how fast changes are made, with a sustained rate and a
burst, per key:

  caller:<account>      every change an account makes (default from the
                        node's limits.mutations_per_second and mutation_burst)
  citizen:<citizen id>  every issue, transfer, application and service
                        request that names the citizen, whoever makes it
                        (limits.citizen_mutations_per_minute and
                        citizen_mutation_burst)

A change beyond a limit is refused (resource exhausted) with the time to
retry and the limit it hit. An override gives one key its own rate and
burst, or exempts it; it takes effect at once, on every replica of the
division. Reset refills a key's bucket. Admin work; every change is
recorded in the audit log.`,
		Example: `  permitctl admin ratelimit set caller:portal-bot --rate 50/s --burst 100 --note "government-services portal"
  permitctl admin ratelimit set citizen:340104199003077311 --rate 2/h --burst 2 --note "reported abuse"
  permitctl admin ratelimit set caller:import.batch --exempt
  permitctl admin ratelimit list
  permitctl admin ratelimit reset caller:clerk.wang
  permitctl admin ratelimit clear caller:portal-bot`,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(
		newAdminRateLimitSetCommand(g),
		newAdminRateLimitClearCommand(g),
		newAdminRateLimitListCommand(g),
		newAdminRateLimitResetCommand(g),
	)
	return cmd
}

// rateUnits are the units a --rate may be given in, in seconds.
var rateUnits = map[string]float64{"s": 1, "m": 60, "min": 60, "h": 3600}

// rateFlag is a rate written N/s, N/min (or N/m) or N/h, kept in changes
// a second.
type rateFlag struct{ perSecond *float64 }

// String implements pflag.Value.
func (f rateFlag) String() string {
	if f.perSecond == nil || *f.perSecond == 0 {
		return ""
	}
	return formatRate(*f.perSecond)
}

// Set implements pflag.Value.
func (f rateFlag) Set(s string) error {
	num, unit, ok := strings.Cut(s, "/")
	seconds, known := rateUnits[unit]
	n, err := strconv.ParseFloat(num, 64)
	if !ok || !known || err != nil || !(n > 0) {
		return fmt.Errorf("%q is not a rate: write a number above 0, then /s, /min or /h (e.g. 5/s, 2/h)", s)
	}
	*f.perSecond = n / seconds
	return nil
}

// Type implements pflag.Value.
func (rateFlag) Type() string { return "rate" }

// formatRate writes changes a second in the unit that reads best: N/s
// from one a second, N/min from one a minute, else N/h.
func formatRate(perSecond float64) string {
	format := func(n float64, unit string) string { return strconv.FormatFloat(n, 'g', 4, 64) + "/" + unit }
	switch {
	case perSecond >= 1:
		return format(perSecond, "s")
	case perSecond*60 >= 1:
		return format(perSecond*60, "min")
	}
	return format(perSecond*3600, "h")
}
