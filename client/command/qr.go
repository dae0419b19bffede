package command

import (
	"context"
	"fmt"

	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// qrOptions are the options of the qr command.
type qrOptions struct {
	global *globalOptions
	png    string
	size   int
	invert bool
}

// newQRCommand returns the qr command.
func newQRCommand(g *globalOptions) *cobra.Command {
	o := &qrOptions{global: g}
	cmd := &cobra.Command{
		Use:   "qr PERMIT_ID [--png FILE [--size PX]] [--invert]",
		Short: "Print a permit's credential as a QR code",
		Long: `Fetch a permit's current credential and print it as a QR code drawn with
half-block characters, followed by the credential text; or, with --png,
write the QR code to a PNG file.

The terminal drawing suits a dark background; use --invert on a terminal
with a light background. -o json prints the credential instead of a
drawing.`,
		Example: `  permitctl qr 330604-4F7K2M9QXW3B7
  permitctl qr 330604-4F7K2M9QXW3B7 --png permit.png --size 512`,
		Args: exactArgs("PERMIT_ID"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of qr on fs.
func (o *qrOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.png, "png", "", "write the QR code to this PNG `file` instead of drawing it")
	fs.IntVar(&o.size, "size", 256, "width and height of the PNG in `pixels`")
	fs.BoolVar(&o.invert, "invert", false, "draw for a terminal with a light background")
}

// run fetches the credential and prints or writes the code.
func (o *qrOptions) run(cmd *cobra.Command, args []string) error {
	if cmd.Flags().Changed("size") && o.png == "" {
		return usagef(cmd, "--size applies only with --png")
	}
	if o.size <= 0 {
		return usagef(cmd, "--size must be a positive number of pixels")
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Permits.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: args[0]})
		if err != nil {
			return err
		}
		if resp.GetCredential().GetText() == "" {
			return fmt.Errorf("permit %s has no current credential (status %s)", args[0], enumWord(resp.GetPermit().GetStatus()))
		}
		qr := qrCode{PermitID: args[0], Credential: resp.GetCredential(), PNGFile: o.png, Invert: o.invert}
		if o.png != "" {
			if err := qrcode.WriteFile(qr.Credential.GetText(), qrcode.Medium, o.size, o.png); err != nil {
				return fmt.Errorf("writing the QR code: %w", err)
			}
		}
		return o.global.printer.QRCode(qr)
	})
}
