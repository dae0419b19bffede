package command

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/internal/atomicfile"
	"github.com/yrd-epermit/epermit/trust"
)

// trustSignOptions are the options of the trust sign command.
type trustSignOptions struct {
	global      *globalOptions
	registryKey string
	source      string
	out         string
	validFor    time.Duration
}

// newTrustSignCommand returns the trust sign command.
func newTrustSignCommand(g *globalOptions) *cobra.Command {
	o := &trustSignOptions{global: g}
	cmd := &cobra.Command{
		Use:   "sign --registry-key FILE [--source FILE] [--out FILE] [--valid-for DURATION]",
		Short: "Sign the trust list source into the list the nodes load",
		Long: `Sign the trust list source file with the registry's private key and write
the signed list (a COSE_Sign1, raw bytes) to --out, replacing it atomically
so that a node watching the file never reads half of it.

The list gets the next sequence number: one more than the sequence recorded
in the source, which sign writes back there before writing the list. Nodes
take a list only if its sequence is greater than the one they hold, so an
old list can never come back. The list is valid from now for --valid-for
(30 days by default); nodes refuse it after that, so sign and publish a new
one well before.

The source is checked as a node would check the list: division codes,
provinces, endpoints, key ids, algorithms, key windows, duplicates. Notes
on standard error point out members with no key valid now and retired keys.`,
		Example: `  permitctl trust sign --registry-key registry.key
  permitctl trust sign --registry-key /media/registry/registry.key --source members.yaml \
    --out /srv/trust/trustlist.cose --valid-for 720h`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of trust sign on fs.
func (o *trustSignOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.registryKey, "registry-key", "", "the registry's private key `file` (from trust init-registry; mode 0600)")
	fs.StringVar(&o.source, "source", defaultTrustSource, "trust list source `file` (YAML)")
	fs.StringVar(&o.out, "out", "trustlist.cose", "write the signed list to `file`")
	fs.DurationVar(&o.validFor, "valid-for", defaultValidFor, "the list is accepted for this `duration` from now")
}

// run signs the source and prints what was signed.
func (o *trustSignOptions) run(cmd *cobra.Command, _ []string) error {
	if err := requireFlags(cmd, "registry-key"); err != nil {
		return err
	}
	if o.validFor < time.Second {
		return usagef(cmd, "--valid-for must be at least 1s")
	}
	key, err := trust.LoadRegistryKey(o.registryKey)
	if err != nil {
		return err
	}
	src, _, err := loadTrustSource(o.source, false)
	if err != nil {
		return err
	}
	now := time.Now().Truncate(time.Second)
	seq := src.Sequence + 1
	l, err := src.list(seq, now, now.Add(o.validFor))
	if err != nil {
		return fmt.Errorf("trust list source %s: %w", o.source, err)
	}
	data, err := trust.Sign(l, key)
	if err != nil {
		return fmt.Errorf("trust list source %s: %w", o.source, err)
	}
	signed, err := trust.Verify(data, key.Public(), now)
	if err != nil {
		return fmt.Errorf("the signed list does not verify: %w", err)
	}
	// Record the sequence first: if writing the list then fails, the next
	// sign skips a number, which is harmless, rather than reusing one.
	src.Sequence = seq
	if err := src.save(o.source); err != nil {
		return err
	}
	if err := atomicfile.Write(o.out, data, 0o644); err != nil {
		return fmt.Errorf("writing the signed list: %w", err)
	}
	p := trustPrinterOf(o.global)
	for _, n := range signNotes(signed, now) {
		if err := p.TrustNote(n); err != nil {
			return err
		}
	}
	kid, err := credential.KID(key.Public())
	if err != nil {
		return err
	}
	keys := 0
	for _, m := range signed.Members {
		keys += len(m.Keys)
	}
	return p.TrustSigned(trustSignedResult{
		Out: o.out, Source: o.source, Sequence: signed.Sequence, IssuedAt: signed.IssuedAt.UTC(), ExpiresAt: signed.ExpiresAt.UTC(),
		RegistryKID: kid, Members: len(signed.Members), Keys: keys, Bytes: len(data),
	})
}

// signNotes points out members with no key valid at now, and keys whose
// window has closed.
func signNotes(l *trust.List, now time.Time) []string {
	var notes []string
	for _, m := range l.Members {
		valid := false
		for _, k := range m.Keys {
			if k.ValidAt(now) {
				valid = true
			}
			if !now.Before(k.NotAfter) {
				notes = append(notes, fmt.Sprintf("Key %s of %s retired on %s; remove it (trust remove %s --kid %s) once the credentials it signed have expired.",
					k.KID, m.Division, trustTime(k.NotAfter), m.Division, k.KID))
			}
		}
		if !valid {
			notes = append(notes, fmt.Sprintf("Member %s has no key that may sign now: its new credentials will not verify.", m.Division))
		}
	}
	return notes
}
