package command

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/trust"
)

// trustShowOptions are the options of the trust show command.
type trustShowOptions struct {
	global      *globalOptions
	registryPub string
	at          timeFlag
}

// newTrustShowCommand returns the trust show command.
func newTrustShowCommand(g *globalOptions) *cobra.Command {
	o := &trustShowOptions{global: g}
	cmd := &cobra.Command{
		Use:   "show FILE --registry-pub FILE [--at T]",
		Short: "Verify a signed trust list and print its members and keys",
		Long: `Verify a signed trust list against the registry's public key, as a node
does, and print its sequence, validity and members with their issuer keys.
Each key's state says whether it may sign at the time of checking: pending
(its not-before is still to come), active, or retired (its not-after has
passed).

A list that a node would refuse (not signed by the registry key, altered,
expired, malformed) is an error, with the reason. --at checks as of another
time, for instance to read a list that has expired.`,
		Example: `  permitctl trust show trustlist.cose --registry-pub registry.pem
  permitctl trust show /srv/trust/trustlist.cose --registry-pub registry.pem -o json
  permitctl trust show old.cose --registry-pub registry.pem --at 2026-06-01`,
		Args: exactArgs("FILE"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of trust show on fs.
func (o *trustShowOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.registryPub, "registry-pub", "", "the registry's public key `file` (PEM)")
	fs.Var(&o.at, "at", "verify as of this `time` instead of now")
}

// run verifies the list and prints it.
func (o *trustShowOptions) run(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "registry-pub"); err != nil {
		return err
	}
	pub, err := trust.LoadRegistryPublic(o.registryPub)
	if err != nil {
		return err
	}
	data, err := trust.ReadFile(args[0])
	if err != nil {
		return err
	}
	at := o.at.t
	if at.IsZero() {
		at = time.Now()
	}
	l, err := trust.Verify(data, pub, at)
	if err != nil {
		return err
	}
	kid, err := credential.KID(pub)
	if err != nil {
		return err
	}
	return trustPrinterOf(o.global).TrustList(listView(l, kid, args[0], at))
}
