package command

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Defaults of the trust commands.
const (
	defaultTrustSource = "members.yaml"
	// defaultKeyYears is how long a new issuer key may sign when --not-after
	// is not given.
	defaultKeyYears = 2
	// defaultOverlap is how long an old key may still sign after a rotated
	// key's not-before.
	defaultOverlap = 24 * time.Hour
	// defaultValidFor is how long a signed list is accepted.
	defaultValidFor = 720 * time.Hour
)

// newTrustCommand returns the trust command, which groups the trust list
// subcommands.
func newTrustCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Keep and sign the federation's trust list (offline; no node needed)",
		Long: `Keep the trust list of the Yangtze River Delta federation: the member
divisions, their nodes' endpoints and their issuer keys, signed by the
registry key so that every node can verify credentials issued by every
member. These commands work on files only; they never call a node, and
ignore --server and the connection flags.

The registry keeps an editable, unsigned source file (YAML, members.yaml by
default) and signs it into the list the nodes load:

  1. trust init-registry   once: make the registry key pair; keep the private
                           key offline, give the public key to every node
  2. trust add             add a member with its issuer key (the PEM of
                           'permitctl key export' on the member's node)
  3. trust rotate          add a member's next key and end its current one
     trust remove          remove a member, or one of its keys
  4. trust sign            sign the source into trustlist.cose, with the next
                           sequence number, valid for --valid-for
  5. publish trustlist.cose where the nodes read it (a file or an
     HTTP(S) URL); nodes pick up a list with a greater sequence by themselves
     trust show            verify a signed list and print its members and keys

Editing the source changes nothing until the list is signed and published.
Re-sign before the published list expires: nodes refuse an expired list.

Times (--not-before, --not-after) are RFC 3339 (2026-07-01T00:00:00+08:00),
a date (2026-07-01, midnight China Standard Time), "now", or "+DURATION"
from now (+168h). See docs/trust.md for the format and for key rotation.`,
		Example: `  permitctl trust init-registry --key registry.key --pub registry.pem
  permitctl trust add 330604 --endpoint permitd.330604.example:7700 --issuer-key 330604.pem
  permitctl trust sign --registry-key registry.key --out trustlist.cose
  permitctl trust show trustlist.cose --registry-pub registry.pem`,
		Args: noSubcommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		// Replaces the root's setup, which works out the connection
		// settings: the trust commands make no connection, so a config
		// file meant for talking to a node must not stop them.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.cmd = cmd
			g.printer = newPrinter(g.output, cmd.OutOrStdout(), cmd.ErrOrStderr())
			return nil
		},
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(
		newTrustInitRegistryCommand(g),
		newTrustAddCommand(g),
		newTrustRemoveCommand(g),
		newTrustRotateCommand(g),
		newTrustSignCommand(g),
		newTrustShowCommand(g),
	)
	return cmd
}

// trustPrinterOf returns the printer of the trust commands.
func trustPrinterOf(g *globalOptions) trustPrinter {
	return g.printer.(trustPrinter)
}

// timeFlag is a pflag.Value holding a point in time: RFC 3339, a date
// (midnight China Standard Time), "now" or "+DURATION" from now.
type timeFlag struct {
	t time.Time
}

// String returns the time in RFC 3339, or "" when unset.
func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.In(chinaStandardTime).Format(time.RFC3339)
}

// Set parses a time.
func (f *timeFlag) Set(s string) error {
	t, err := parseTrustTime(s, time.Now())
	if err != nil {
		return err
	}
	f.t = t
	return nil
}

// Type names the value in help.
func (f *timeFlag) Type() string { return "time" }

// parseTrustTime parses s relative to now, to the second.
func parseTrustTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	var t time.Time
	switch {
	case s == "now":
		t = now
	case strings.HasPrefix(s, "+"):
		d, err := time.ParseDuration(s[1:])
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("%q is not +DURATION, such as +168h", s)
		}
		t = now.Add(d)
	default:
		var err error
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			if t, err = time.ParseInLocation(time.DateOnly, s, chinaStandardTime); err != nil {
				return time.Time{}, fmt.Errorf("%q is not a time: give RFC 3339 (2026-07-01T00:00:00+08:00), a date (2026-07-01), now or +DURATION", s)
			}
		}
	}
	return t.Truncate(time.Second), nil
}
