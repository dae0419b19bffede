package command

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// trustRemoveOptions are the options of the trust remove command.
type trustRemoveOptions struct {
	global *globalOptions
	source string
	kid    string
}

// newTrustRemoveCommand returns the trust remove command.
func newTrustRemoveCommand(g *globalOptions) *cobra.Command {
	o := &trustRemoveOptions{global: g}
	cmd := &cobra.Command{
		Use:   "remove DIVISION [--kid KID]",
		Short: "Remove a member, or one of its keys, from the trust list source",
		Long: `Remove a member division from the trust list source file, or with --kid only
one of its issuer keys, and print what is left of the member.

Once a list without it is signed and published, nodes no longer verify any
credential signed with the removed keys, however recent: removing a key is
how a compromised key is revoked. The member then re-signs its permits with
its new key ('permitctl key resign --compromised KID', the key compromise
drill of docs/operations.md). A key that merely retired (its not-after
has passed) should stay listed until the credentials it signed have
expired, up to a year; remove it after that.

Only the source file changes, so nothing is asked: the change takes effect
when the list is signed ('trust sign') and published, and until then
'trust add' undoes it.`,
		Example: `  permitctl trust remove 320583
  permitctl trust remove 330604 --kid 21fe31dfa154a261 --source members.yaml`,
		Args: exactArgs("DIVISION"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of trust remove on fs.
func (o *trustRemoveOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.source, "source", defaultTrustSource, "trust list source `file` (YAML)")
	fs.StringVar(&o.kid, "kid", "", "remove only the issuer key with this key `id` (16 hex digits)")
}

// run removes the member or key and prints the result.
func (o *trustRemoveOptions) run(cmd *cobra.Command, args []string) error {
	code := args[0]
	src, _, err := loadTrustSource(o.source, false)
	if err != nil {
		return err
	}
	i := src.member(code)
	if i < 0 {
		return fmt.Errorf("%s is not a member in %s", code, o.source)
	}
	m := src.Members[i]
	result := trustMemberResult{Action: "removed", Source: o.source, Member: memberView(m, time.Now())}
	if o.kid == "" {
		src.Members = slices.Delete(src.Members, i, i+1)
	} else {
		j := slices.IndexFunc(m.Keys, func(k sourceKey) bool { return k.KID == o.kid })
		switch {
		case j < 0:
			return fmt.Errorf("member %s has no key %s in %s", code, o.kid, o.source)
		case len(m.Keys) == 1:
			return fmt.Errorf("key %s is the only key of %s; remove the member instead (permitctl trust remove %s)", o.kid, code, code)
		}
		m.Keys = slices.Delete(slices.Clone(m.Keys), j, j+1)
		src.Members[i] = m
		result = trustMemberResult{Action: "key removed", Source: o.source, RemovedKID: o.kid, Member: memberView(m, time.Now())}
	}
	if err := src.save(o.source); err != nil {
		return err
	}
	return trustPrinterOf(o.global).TrustMember(result)
}
