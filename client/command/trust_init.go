package command

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/trust"
)

// trustInitRegistryOptions are the options of the trust init-registry
// command.
type trustInitRegistryOptions struct {
	global  *globalOptions
	keyFile string
	pubFile string
}

// newTrustInitRegistryCommand returns the trust init-registry command.
func newTrustInitRegistryCommand(g *globalOptions) *cobra.Command {
	o := &trustInitRegistryOptions{global: g}
	cmd := &cobra.Command{
		Use:   "init-registry --key FILE --pub FILE",
		Short: "Create the registry key pair that signs the trust list",
		Long: `Create a new Ed25519 registry key pair: the private key in --key (PEM,
PKCS#8, mode 0600) and the public key in --pub (PEM "PUBLIC KEY", mode 0644),
and print the registry key id.

The private key signs every trust list; keep it offline, on the registry's
signing machine only, and back it up. Give the public key to every node
(its trust.registry_pub setting): nodes accept only lists it verifies.

Neither file may exist: init-registry never replaces a registry key, since
every node would have to be given the new public key. Here, unlike
elsewhere, --key names the registry's private key, not a TLS client key.`,
		Example: `  permitctl trust init-registry --key registry.key --pub registry.pem`,
		Args:    exactArgs(),
		RunE:    o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of trust init-registry on fs.
func (o *trustInitRegistryOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.keyFile, "key", "", "write the registry's private key to `file` (must not exist)")
	fs.StringVar(&o.pubFile, "pub", "", "write the registry's public key to `file` (must not exist)")
}

// run creates the key pair and prints its description.
func (o *trustInitRegistryOptions) run(cmd *cobra.Command, _ []string) error {
	if err := requireFlags(cmd, "key", "pub"); err != nil {
		return err
	}
	if o.keyFile == o.pubFile {
		return usagef(cmd, "--key and --pub name the same file")
	}
	for _, path := range []string{o.keyFile, o.pubFile} {
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s already exists; init-registry never replaces a registry key", path)
		}
	}
	key, err := trust.NewRegistryKey()
	if err != nil {
		return err
	}
	pub := key.Public()
	if err := trust.SaveRegistryKey(o.keyFile, key); err != nil {
		return err
	}
	if err := trust.SaveRegistryPublic(o.pubFile, key.Public().(ed25519.PublicKey)); err != nil {
		os.Remove(o.keyFile)
		return err
	}
	kid, err := credential.KID(pub)
	if err != nil {
		return err
	}
	return trustPrinterOf(o.global).TrustRegistry(trustRegistryResult{
		KeyFile: o.keyFile, PublicFile: o.pubFile, KID: kid, Algorithm: trust.AlgorithmEdDSA,
	})
}
