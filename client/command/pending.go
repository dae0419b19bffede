package command

import (
	"github.com/spf13/cobra"
)

// newPendingCommand returns the pending command, which groups the
// subcommands deciding pending cancellation requests.
func newPendingCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pending",
		Short: "List, approve and reject pending cancellation requests",
		Long: `Cancelling (注销) or confiscating (收缴) a permit takes two supervisors of the
division (四眼原则). 'permitctl cancel' files a request and leaves the permit
as it is; the requests wait here until a second supervisor approves one,
which cancels or confiscates the permit, or it is rejected: withdrawn by the
supervisor who made it, or refused by another.`,
		Example: `  permitctl pending list
  permitctl pending approve pc-5KQ2M9XW3B7T
  permitctl pending reject pc-5KQ2M9XW3B7T --note "documents incomplete"`,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(
		newPendingListCommand(g),
		newPendingApproveCommand(g),
		newPendingRejectCommand(g),
	)
	return cmd
}
