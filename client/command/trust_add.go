package command

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/division"
	"github.com/yrd-epermit/epermit/trust"
)

// trustAddOptions are the options of the trust add command.
type trustAddOptions struct {
	global    *globalOptions
	source    string
	name      string
	endpoint  string
	issuerKey string
	notBefore timeFlag
	notAfter  timeFlag
}

// newTrustAddCommand returns the trust add command.
func newTrustAddCommand(g *globalOptions) *cobra.Command {
	o := &trustAddOptions{global: g}
	cmd := &cobra.Command{
		Use:   "add DIVISION --endpoint HOST:PORT --issuer-key FILE.pem [--name NAME] [--not-before T] [--not-after T]",
		Short: "Add a member division and its issuer key to the trust list source",
		Long: `Add a member to the trust list source file (--source, created if missing):
its six-digit division code, a county-level division of the shipped table;
its name (by default the division's full name); the host:port of its node's
federation API; and its issuer public key, the PEM written by
'permitctl key export' on the member's node, with the window in which the
key may sign (--not-before, by default now; --not-after, by default two
years later). Verifiers accept a credential only if it was signed within
its key's window.

A division already in the source is refused: give it another key with
'trust rotate', or remove it first. Nothing changes for the nodes until the
source is signed ('trust sign') and the list published.`,
		Example: `  permitctl key export --server permitd.330604.example:7700 --ca ca.pem --out 330604.pem
  permitctl trust add 330604 --endpoint permitd.330604.example:7700 --issuer-key 330604.pem
  permitctl trust add 320583 --name 昆山市 --endpoint 10.20.0.7:7700 --issuer-key 320583.pem \
    --not-before 2026-07-01 --not-after 2028-07-01 --source members.yaml`,
		Args: exactArgs("DIVISION"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of trust add on fs.
func (o *trustAddOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.source, "source", defaultTrustSource, "trust list source `file` (YAML), created if missing")
	fs.StringVar(&o.name, "name", "", "member `name`; by default the division's full name")
	fs.StringVar(&o.endpoint, "endpoint", "", "`host:port` of the member node's federation API")
	fs.StringVar(&o.issuerKey, "issuer-key", "", "PEM `file` of the member's issuer public key ('permitctl key export')")
	fs.Var(&o.notBefore, "not-before", "the key may sign from this `time` on; default now")
	fs.Var(&o.notAfter, "not-after", "the key may sign until just before this `time`; default two years after --not-before")
}

// run adds the member and prints it.
func (o *trustAddOptions) run(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "endpoint", "issuer-key"); err != nil {
		return err
	}
	code := args[0]
	d, ok := division.Lookup(code)
	switch {
	case !ok:
		return usagef(cmd, "division %q is not in the table of Delta divisions this permitctl knows", code)
	case !d.CanIssue():
		return usagef(cmd, "division %s %s is a %s; members are county-level divisions, which issue permits", code, d.Name, d.Level)
	}
	if err := trust.CheckEndpoint(o.endpoint); err != nil {
		return usagef(cmd, "--endpoint: %v", err)
	}
	name := o.name
	if name == "" {
		name = d.FullName()
	}
	now := time.Now()
	nbf, naf := o.notBefore.t, o.notAfter.t
	if nbf.IsZero() {
		nbf = now.Truncate(time.Second)
	}
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
	src, created, err := loadTrustSource(o.source, true)
	if err != nil {
		return err
	}
	if src.member(code) >= 0 {
		return fmt.Errorf("%s is already a member in %s; use 'permitctl trust rotate' to give it a new key, or 'trust remove' it first", code, o.source)
	}
	if owner := src.owner(key.KID); owner != "" {
		return fmt.Errorf("key %s is already listed for %s in %s; every member has keys of its own", key.KID, owner, o.source)
	}
	m := sourceMember{Division: code, Name: name, Province: d.Province().Code, Endpoint: o.endpoint, Keys: []sourceKey{key}}
	if err := m.check(); err != nil {
		return err
	}
	src.Members = append(src.Members, m)
	if err := src.save(o.source); err != nil {
		return err
	}
	return trustPrinterOf(o.global).TrustMember(trustMemberResult{
		Action: "added", Source: o.source, Created: created, Member: memberView(m, now),
	})
}
