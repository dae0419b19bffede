package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// transferOptions are the options of the transfer command.
type transferOptions struct {
	global           *globalOptions
	citizenID        string
	residenceAddress string
	request          requestOptions
}

// newTransferCommand returns the transfer command.
func newTransferCommand(g *globalOptions) *cobra.Command {
	o := &transferOptions{global: g}
	cmd := &cobra.Command{
		Use:   "transfer --citizen-id ID --residence-address ADDR [CREDENTIAL_TEXT | -]",
		Short: "Issue a permit here to a resident moving from another member city",
		Long: `Transfer a resident's permit from another member city of the Delta to this
node's division, from the credential of their current permit (as scanned
from its QR code) and the citizen id on the identity card they present.

The node verifies the credential through the trust list, reads the holder
and the recognised residence history from the old issuer, checks with the
other members that the citizen holds no other permit, and issues a permit
that records the prior residence. It comes into force once the old issuer
has marked its permit superseded; until then it is shown as pending with
the reason, and the node completes it by itself when the old issuer
answers. The residence months across member cities count on.

The credential text is the argument; with "-", or with no argument when
standard input is not a terminal, it is read from standard input.`,
		Example: `  permitctl transfer --citizen-id 110101199003074514 \
    --residence-address 浙江省杭州市余杭区测试路9号 'YRD1:NCFOXN...'
  permitctl transfer --citizen-id 110101199003074514 \
    --residence-address 浙江省杭州市余杭区测试路9号 - < credential.txt`,
		Args: oneCredentialArg,
		RunE: o.run,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.citizenID, "citizen-id", "", "the resident's 18-character citizen `id`, from the identity card presented (required)")
	fs.StringVar(&o.residenceAddress, "residence-address", "", "current residence `address` in this division (required)")
	o.request.addFlags(fs)
	return cmd
}

// run transfers the permit and prints the new one.
func (o *transferOptions) run(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "citizen-id", "residence-address"); err != nil {
		return err
	}
	text, err := credentialText(cmd, args)
	if err != nil {
		return err
	}
	req := &epermitv1.TransferPermitRequest{
		RequestId: o.request.id(), CredentialText: text,
		CitizenId: o.citizenID, ResidenceAddress: o.residenceAddress,
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Permits.TransferPermit(ctx, req)
		if err != nil {
			return o.request.explain(err)
		}
		return o.global.printer.Permit(resp.GetPermit(), resp.GetCredential())
	})
}

// oneCredentialArg accepts at most one argument: the credential text.
func oneCredentialArg(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usagef(cmd, "unexpected argument %q: give one credential text", args[1])
	}
	return nil
}
