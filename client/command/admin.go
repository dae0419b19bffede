package command

import (
	"github.com/spf13/cobra"
)

// newAdminCommand returns the admin command, which groups the account
// management subcommands.
func newAdminCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage the accounts allowed to call the node, and their rate limits",
		Long: `Manage the accounts of the node's division: people (clerks, supervisors,
auditors, admins), who authenticate with a bearer token, and systems
(partner nodes), which authenticate with a client certificate whose subject
common name is the account name. Admin work.

A person's token is shown once, when the account is created or the token
rotated; the node keeps only its hash. The first admin's token is written by
the node to <data>/admin.token when it first starts:

  permitctl --token-file <data>/admin.token admin add ...

Roles:
  admin       manages accounts
  supervisor  reinstates permits; requests and approves cancellations
  clerk       issues, endorses, suspends, reads and lists permits
  auditor     reads and verifies the audit log
  partner     a partner system: reads and verifies permits, stating a purpose

'permitctl admin ratelimit' overrides and resets the rate limits on changes
per account and per citizen id.`,
		Example: `  permitctl admin add clerk.wang --role clerk --note "上虞区行政服务中心"
  permitctl admin add partner-320502 --role partner --kind system --division 320502
  permitctl admin list
  permitctl admin disable clerk.wang`,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(
		newAdminAddCommand(g),
		newAdminListCommand(g),
		newAdminDisableCommand(g),
		newAdminEnableCommand(g),
		newAdminRotateCommand(g),
		newAdminRateLimitCommand(g),
	)
	return cmd
}
