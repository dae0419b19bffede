package command

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// trustRotateOptions are the options of the trust rotate command.
type trustRotateOptions struct {
	global    *globalOptions
	source    string
	issuerKey string
	notBefore timeFlag
	notAfter  timeFlag
	overlap   time.Duration
}

// newTrustRotateCommand returns the trust rotate command.
func newTrustRotateCommand(g *globalOptions) *cobra.Command {
	o := &trustRotateOptions{global: g}
	cmd := &cobra.Command{
		Use:   "rotate DIVISION --issuer-key NEW.pem --not-before T [--not-after T] [--overlap DURATION]",
		Short: "Add a member's next issuer key and end its current ones",
		Long: `Add a new issuer key to a member in the trust list source file, valid from
--not-before (until --not-after, by default two years later), and end the
member's other keys at --not-before plus --overlap (24h by default): each
key whose not-after is later is cut back to that time.

Verifiers accept a key only for credentials signed within its window, so a
rotation goes:

  1. the member makes its new key and exports the public key, but keeps
     signing with the current one;
  2. the registry runs 'trust rotate' with a --not-before in the future,
     late enough for the signed list to reach every node first, then signs
     and publishes the list;
  3. from --not-before on, the member's node signs with the new key; until
     --not-before plus --overlap the old key is still accepted, for a node
     that switches late.

Credentials signed with the old key inside its window keep verifying until
they expire. Leave the old key listed until then ('trust remove --kid'
afterwards). To revoke a compromised key at once, remove it instead.

Only the source file changes, so nothing is asked: the rotation takes
effect when the list is signed ('trust sign') and published.`,
		Example: `  permitctl trust rotate 330604 --issuer-key 330604-2027.pem --not-before 2027-01-01
  permitctl trust rotate 330604 --issuer-key 330604-next.pem --not-before +168h --overlap 48h`,
		Args: exactArgs("DIVISION"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of trust rotate on fs.
func (o *trustRotateOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.source, "source", defaultTrustSource, "trust list source `file` (YAML)")
	fs.StringVar(&o.issuerKey, "issuer-key", "", "PEM `file` of the member's new issuer public key")
	fs.Var(&o.notBefore, "not-before", "the new key may sign from this `time` on")
	fs.Var(&o.notAfter, "not-after", "the new key may sign until just before this `time`; default two years after --not-before")
	fs.DurationVar(&o.overlap, "overlap", defaultOverlap, "the old keys may still sign for this `duration` after --not-before")
}

// run adds the new key, ends the old ones and prints the member.
func (o *trustRotateOptions) run(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "issuer-key", "not-before"); err != nil {
		return err
	}
	if o.overlap < 0 {
		return usagef(cmd, "--overlap must not be negative")
	}
	code := args[0]
	nbf, naf := o.notBefore.t, o.notAfter.t
	if naf.IsZero() {
		naf = nbf.AddDate(defaultKeyYears, 0, 0)
	}
	if !nbf.Before(naf) {
		return usagef(cmd, "--not-after must be after --not-before")
	}
	key, err := readIssuerKey(o.issuerKey, nbf, naf)
	if err != nil {
		return err
	}
	src, _, err := loadTrustSource(o.source, false)
	if err != nil {
		return err
	}
	i := src.member(code)
	if i < 0 {
		return fmt.Errorf("%s is not a member in %s; add it with 'permitctl trust add'", code, o.source)
	}
	if owner := src.owner(key.KID); owner != "" {
		return fmt.Errorf("key %s is already listed for %s in %s", key.KID, owner, o.source)
	}
	m := src.Members[i]
	m.Keys = append([]sourceKey(nil), m.Keys...)
	end := nbf.Add(o.overlap)
	for j := range m.Keys {
		k := &m.Keys[j]
		if !k.NotBefore.Before(end) {
			return fmt.Errorf("key %s of %s only starts at %s, after the old keys would end; remove it first (trust remove %s --kid %s)",
				k.KID, code, k.NotBefore.In(chinaStandardTime).Format(time.RFC3339), code, k.KID)
		}
		if k.NotAfter.After(end) {
			k.NotAfter = end
		}
	}
	m.Keys = append(m.Keys, key)
	if err := m.check(); err != nil {
		return err
	}
	src.Members[i] = m
	if err := src.save(o.source); err != nil {
		return err
	}
	now := time.Now()
	p := trustPrinterOf(o.global)
	if !nbf.After(now) {
		if err := p.TrustNote("The new key may sign at once: nodes that have not yet loaded a list with it refuse its credentials. " +
			"A --not-before in the future avoids that."); err != nil {
			return err
		}
	}
	return p.TrustMember(trustMemberResult{Action: "rotated", Source: o.source, Member: memberView(m, now)})
}
