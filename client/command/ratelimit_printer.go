package command

import (
	"fmt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// rateLimitPrinter prints the results of the admin ratelimit commands.
// Both printers implement it beside printer.
type rateLimitPrinter interface {
	// RateLimitOverride prints one override just set or cleared (done
	// says which).
	RateLimitOverride(o *epermitv1.RateLimitOverride, done string) error
	// RateLimitOverrides prints the overrides and the defaults.
	RateLimitOverrides(resp *epermitv1.ListRateLimitOverridesResponse) error
	// RateLimitReset prints that key's bucket was refilled.
	RateLimitReset(key string, resp *epermitv1.ResetRateLimitResponse) error
}

// Ensure both printers are rate limit printers.
var (
	_ rateLimitPrinter = (*tablePrinter)(nil)
	_ rateLimitPrinter = (*jsonPrinter)(nil)
)

// rateLimitPrinterOf returns the printer of the admin ratelimit commands.
func rateLimitPrinterOf(g *globalOptions) rateLimitPrinter {
	return g.printer.(rateLimitPrinter)
}

// RateLimitOverride prints a vertical list of the override's fields.
func (t *tablePrinter) RateLimitOverride(o *epermitv1.RateLimitOverride, done string) error {
	tb := t.newTable()
	tb.add("Key", o.GetKey())
	tb.add("Limit", overrideLimit(o))
	tb.add("Note", orDash(o.GetNote()))
	tb.add("Set by", orDash(o.GetUpdateActor()))
	tb.add("Set at", orDash(formatTime(o.GetUpdateTime())))
	if err := tb.writeTo(t.out); err != nil {
		return err
	}
	_, err := fmt.Fprintf(t.errOut, "Override %s; it applies at once on every replica.\n", done)
	return err
}

// RateLimitOverrides prints the defaults to errOut, then one line per
// override.
func (t *tablePrinter) RateLimitOverrides(resp *epermitv1.ListRateLimitOverridesResponse) error {
	if _, err := fmt.Fprintf(t.errOut, "Defaults: caller %s; citizen %s.\n",
		limitWords(resp.GetCallerDefault()), limitWords(resp.GetCitizenDefault())); err != nil {
		return err
	}
	if len(resp.GetOverrides()) == 0 {
		_, err := fmt.Fprintln(t.errOut, "No overrides.")
		return err
	}
	tb := t.newTable()
	tb.add("KEY", "LIMIT", "NOTE", "SET BY", "SET AT")
	for _, o := range resp.GetOverrides() {
		tb.add(o.GetKey(), overrideLimit(o), orDash(o.GetNote()), orDash(o.GetUpdateActor()), orDash(formatTime(o.GetUpdateTime())))
	}
	return tb.writeTo(t.out)
}

// RateLimitReset says that the bucket was refilled.
func (t *tablePrinter) RateLimitReset(key string, _ *epermitv1.ResetRateLimitResponse) error {
	_, err := fmt.Fprintf(t.out, "Bucket of %s refilled.\n", key)
	return err
}

// overrideLimit is an override's limit in words.
func overrideLimit(o *epermitv1.RateLimitOverride) string {
	if o.GetExempt() {
		return "exempt"
	}
	return limitWords(o.GetLimit())
}

// limitWords writes a limit as "5/s, burst 10", or "off" when unset.
func limitWords(l *epermitv1.RateLimit) string {
	if l == nil {
		return "off"
	}
	return fmt.Sprintf("%s, burst %d", formatRate(l.GetPerSecond()), l.GetBurst())
}

// RateLimitOverride prints the override.
func (j *jsonPrinter) RateLimitOverride(o *epermitv1.RateLimitOverride, _ string) error {
	return j.print(o)
}

// RateLimitOverrides prints the ListRateLimitOverridesResponse.
func (j *jsonPrinter) RateLimitOverrides(resp *epermitv1.ListRateLimitOverridesResponse) error {
	return j.print(resp)
}

// RateLimitReset prints the (empty) ResetRateLimitResponse.
func (j *jsonPrinter) RateLimitReset(_ string, resp *epermitv1.ResetRateLimitResponse) error {
	return j.print(resp)
}
