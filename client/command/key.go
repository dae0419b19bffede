package command

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// newKeyCommand returns the key command, which groups the key subcommands.
func newKeyCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Work with the node's issuer key",
		Long: `Work with the key the node signs credentials with: export its public key,
which verifiers elsewhere use to check credentials offline ('permitctl
verify --offline'), and, after a key was compromised, re-sign every permit
with the new key (the key compromise drill, admins).`,
		Example: `  permitctl key export --out 330604.pem
  permitctl key resign --compromised 21fe31dfa154a261`,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(newKeyExportCommand(g), newKeyResignCommand(g))
	return cmd
}

// keyExportOptions are the options of the key export command.
type keyExportOptions struct {
	global *globalOptions
	out    string
}

// newKeyExportCommand returns the key export command.
func newKeyExportCommand(g *globalOptions) *cobra.Command {
	o := &keyExportOptions{global: g}
	cmd := &cobra.Command{
		Use:   "export [--out FILE]",
		Short: "Export the node's public issuer key as PEM",
		Long: `Export the public key the node signs credentials with, as a PEM "PUBLIC KEY"
block, for 'permitctl verify --offline --key FILE'.

With --out the PEM is written to FILE and the division, key id and algorithm
are printed. Without it, the table mode writes the PEM to standard output and
the rest to standard error, so that the output can be redirected to a file;
-o json prints the whole response, PEM included, to standard output.`,
		Example: `  permitctl key export --out 330604.pem
  permitctl key export > 330604.pem`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of key export on fs.
func (o *keyExportOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.out, "out", "", "write the PEM to `file` instead of standard output")
}

// run fetches the key, writes the PEM and prints the key's description.
func (o *keyExportOptions) run(cmd *cobra.Command, _ []string) error {
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		key, err := c.Permits.GetIssuerKey(ctx, &epermitv1.GetIssuerKeyRequest{})
		if err != nil {
			return err
		}
		if o.out != "" {
			if err := os.WriteFile(o.out, []byte(key.GetPublicKeyPem()), 0o644); err != nil {
				return fmt.Errorf("writing the key: %w", err)
			}
		}
		return o.global.printer.IssuerKey(key, o.out)
	})
}
