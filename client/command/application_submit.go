package command

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// applicationSubmitOptions are the options of the application submit
// command.
type applicationSubmitOptions struct {
	global    *globalOptions
	holder    holderOptions
	channel   epermitv1.ApplicationChannel
	target    string
	materials []string
	request   requestOptions
}

// newApplicationSubmitCommand returns the application submit command.
func newApplicationSubmitCommand(g *globalOptions) *cobra.Command {
	o := &applicationSubmitOptions{global: g, channel: epermitv1.ApplicationChannel_APPLICATION_CHANNEL_HALL}
	cmd := &cobra.Command{
		Use:   "submit --name NAME --citizen-id ID --ethnicity E --hukou-address ADDR --residence-address ADDR [--material CODE,...]",
		Short: "Take in an application for a permit",
		Long: `Take in an application for a residence permit and print it.

--material lists the codes of the materials the applicant brought (repeat
the flag or separate codes with commas). With every required material the
application is accepted and its deadline runs; otherwise it is
materials-required and the output lists everything missing, to tell the
applicant at once (一次性告知).

--target names the member city that is to issue, when it is not this
node's: the application is taken in on its behalf (异地代收), stored here as
forwarding and sent to that city's node until it confirms.`,
		Example: `  permitctl application submit --name 测试者甲 --citizen-id 110101199003074514 --ethnicity 汉 \
    --hukou-address 北京市东城区测试胡同1号 --residence-address 浙江省绍兴市上虞区测试路2号 \
    --residence-start 2025-09-01 --material id_card,photo,residence_proof,employment_proof

  # Taken in at this node for Putuo, Shanghai
  permitctl application submit --target 310107 --name 测试者乙 --citizen-id 340104199001010017 \
    --ethnicity 汉 --hukou-address 安徽省合肥市测试路3号 --residence-address 上海市普陀区测试路4号 \
    --material id_card,photo,residence_proof,study_proof`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of application submit on fs.
func (o *applicationSubmitOptions) addFlags(fs *pflag.FlagSet) {
	o.holder.addFlags(fs, "the target division", "today")
	fs.Var(enumFlag[epermitv1.ApplicationChannel]{target: &o.channel, typ: "channel"}, "channel",
		"how it came in: `hall` or online")
	fs.StringVar(&o.target, "target", "", "`division` code of the member city that is to issue; default this node's")
	fs.StringSliceVar(&o.materials, "material", nil, "`codes` of the materials provided, comma-separated or repeated")
	o.request.addFlags(fs)
}

// run submits the application and prints it.
func (o *applicationSubmitOptions) run(cmd *cobra.Command, _ []string) error {
	if err := o.holder.check(cmd); err != nil {
		return err
	}
	req := &epermitv1.SubmitApplicationRequest{
		RequestId:          o.request.id(),
		Holder:             o.holder.holder(),
		ResidenceAddress:   o.holder.residenceAddress,
		ResidenceStartDate: o.holder.residenceStart,
		Channel:            o.channel,
		TargetDivision:     o.target,
		MaterialsProvided:  o.materials,
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Applications.SubmitApplication(ctx, req)
		if err != nil {
			return o.request.explain(err)
		}
		return applicationPrinterOf(o.global).Application(resp.GetApplication(), nil)
	})
}
