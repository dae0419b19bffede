package command

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// newApplicationCommand returns the application command, which groups the
// subcommands for applications for a permit.
func newApplicationCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "application",
		Aliases: []string{"app"},
		Short:   "Take in, list, supplement, approve and reject applications for a permit",
		Long: `A permit starts as an application. The clerk submits it with the codes of the
materials the applicant brought; the node lists everything still missing in
one notice (一次性告知), by code and name in Chinese and English, and the
application waits in state materials-required, with no deadline, until
'application supplement' records the rest. With complete materials it is
accepted (受理) and the decision is due within the city's deadline (15 days
from acceptance by default, at most 30); 'application list --overdue' lists
the ones past it, and every list counts them. 'application approve' issues
the permit; 'application reject' ends the application with reasons.

An application for another member city (--target DIVISION) is taken in here
on that city's behalf (异地代收): it stays forwarding here until that city's
node confirms it, then forwarded; there it appears with channel remote.

The default material codes are id_card, photo, residence_proof and one of
employment_proof, stable_residence_proof or study_proof; a node may
configure others (applications.required_materials).`,
		Example: `  permitctl application submit --name 测试者甲 --citizen-id 110101199003074514 --ethnicity 汉 \
    --hukou-address 北京市东城区测试胡同1号 --residence-address 浙江省绍兴市上虞区测试路2号 \
    --material id_card,photo
  permitctl application supplement A330604-0G3K2M9QXW3B7 --material residence_proof,employment_proof
  permitctl application list --overdue
  permitctl application approve A330604-0G3K2M9QXW3B7`,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(
		newApplicationSubmitCommand(g),
		newApplicationListCommand(g),
		newApplicationShowCommand(g),
		newApplicationSupplementCommand(g),
		newApplicationApproveCommand(g),
		newApplicationRejectCommand(g),
	)
	return cmd
}

// applicationPrinterOf returns the printer of the application commands.
func applicationPrinterOf(g *globalOptions) applicationPrinter {
	return g.printer.(applicationPrinter)
}

// appVersionOptions holds --if-version of the changes of an application.
type appVersionOptions struct {
	ifVersion int64
}

// addFlags defines --if-version on fs.
func (v *appVersionOptions) addFlags(fs *pflag.FlagSet) {
	fs.Int64Var(&v.ifVersion, "if-version", 0,
		"act only if the application is still at this `version` (the node answers aborted otherwise); by default its current version, read first")
}

// version returns the version to send for application id: --if-version
// when given, else the application's current version read from the node.
func (v *appVersionOptions) version(ctx context.Context, cmd *cobra.Command, c *client.Client, id string) (int64, error) {
	if cmd.Flags().Changed("if-version") {
		return v.ifVersion, nil
	}
	resp, err := c.Applications.GetApplication(ctx, &epermitv1.GetApplicationRequest{ApplicationId: id})
	if err != nil {
		return 0, err
	}
	return resp.GetApplication().GetVersion(), nil
}
