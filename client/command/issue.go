package command

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// issueOptions are the options of the issue command.
type issueOptions struct {
	global  *globalOptions
	holder  holderOptions
	request requestOptions
}

// newIssueCommand returns the issue command.
func newIssueCommand(g *globalOptions) *cobra.Command {
	o := &issueOptions{global: g}
	cmd := &cobra.Command{
		Use:   "issue --name NAME --citizen-id ID --ethnicity E --hukou-address ADDR --residence-address ADDR",
		Short: "Issue a permit to a resident of this division",
		Long: `Issue a new electronic residence permit (电子居住证) to a resident of the
node's division, and print the permit and its signed credential.

Sex and date of birth are derived from the citizen id. The residence years
count from --residence-start, by default the day of issue. The node refuses
(already exists) a citizen who holds a permit that is not cancelled,
confiscated, superseded or expired.`,
		Example: `  permitctl issue --name 测试者甲 --citizen-id 110101199003074514 --ethnicity 汉 \
    --hukou-address 北京市东城区测试胡同1号 --residence-address 浙江省绍兴市上虞区测试路2号 \
    --residence-start 2025-09-01`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of issue on fs.
func (o *issueOptions) addFlags(fs *pflag.FlagSet) {
	o.holder.addFlags(fs, "this division", "the day of issue")
	o.request.addFlags(fs)
}

// run issues the permit and prints it.
func (o *issueOptions) run(cmd *cobra.Command, _ []string) error {
	if err := o.holder.check(cmd); err != nil {
		return err
	}
	req := &epermitv1.IssuePermitRequest{
		RequestId:          o.request.id(),
		Holder:             o.holder.holder(),
		ResidenceAddress:   o.holder.residenceAddress,
		ResidenceStartDate: o.holder.residenceStart,
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Permits.IssuePermit(ctx, req)
		if err != nil {
			return o.request.explain(err)
		}
		return o.global.printer.Permit(resp.GetPermit(), resp.GetCredential())
	})
}
