package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// applicationSupplementOptions are the options of the application
// supplement command.
type applicationSupplementOptions struct {
	global    *globalOptions
	materials []string
	version   appVersionOptions
	request   requestOptions
}

// newApplicationSupplementCommand returns the application supplement
// command.
func newApplicationSupplementCommand(g *globalOptions) *cobra.Command {
	o := &applicationSupplementOptions{global: g}
	cmd := &cobra.Command{
		Use:   "supplement APPLICATION_ID --material CODE,...",
		Short: "Record materials the applicant brought later",
		Long: `Record materials brought for an application that is materials-required, and
print it. When nothing is missing any more it is accepted, and its deadline
runs from now.`,
		Example: `  permitctl application supplement A330604-0G3K2M9QXW3B7 --material residence_proof,employment_proof`,
		Args:    exactArgs("APPLICATION_ID"),
		RunE:    o.run,
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&o.materials, "material", nil, "`codes` of the materials brought, comma-separated or repeated (required)")
	o.version.addFlags(fs)
	o.request.addFlags(fs)
	return cmd
}

// run supplements the application and prints it.
func (o *applicationSupplementOptions) run(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "material"); err != nil {
		return err
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		ver, err := o.version.version(ctx, cmd, c, args[0])
		if err != nil {
			return err
		}
		resp, err := c.Applications.SupplementApplication(ctx, &epermitv1.SupplementApplicationRequest{
			RequestId: o.request.id(), ApplicationId: args[0], Version: ver, MaterialsProvided: o.materials,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return applicationPrinterOf(o.global).Application(resp.GetApplication(), nil)
	})
}
