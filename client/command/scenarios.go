package command

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// newScenariosCommand returns the scenarios command.
func newScenariosCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "scenarios",
		Short: "List the public services a permit opens, by scenario, with their rules",
		Long: `Print the node's catalogue of public services: the six scenarios (育儿
childcare, 教育 schooling, 就业 employment, 居住 housing, 医疗 medical care,
创业 entrepreneurship), each with its services, and the departments that
deliver them.

Each service shows its code (for --service of 'permitctl eligibility' and
'permitctl request submit'), its Chinese and English names, the department,
whether a request is for a child of the holder, the request fields it takes
(--field KEY=VALUE), the fields its department receives, and the
eligibility rule in force today: its version, the day it took effect and
its conditions in words, to read to the resident. -o json also shows each
condition's expression.`,
		Example: `  permitctl scenarios
  permitctl scenarios -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Scenarios.ListScenarios(ctx, &epermitv1.ListScenariosRequest{})
				if err != nil {
					return err
				}
				return scenarioPrinterOf(g).Scenarios(resp)
			})
		},
	}
}

// scenarioPrinterOf returns the printer of the scenarios, eligibility and
// request commands.
func scenarioPrinterOf(g *globalOptions) scenarioPrinter {
	return g.printer.(scenarioPrinter)
}
