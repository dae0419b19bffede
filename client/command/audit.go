package command

import (
	"github.com/spf13/cobra"
)

// newAuditCommand returns the audit command, which groups the audit log
// subcommands.
func newAuditCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify the node's audit log",
		Long: `Read and verify the node's audit log: one entry for every change and every
read of personal data, each holding the hash of the one before, so that an
edited, inserted or deleted entry breaks the chain. Auditor work; reading
the log is itself recorded in it.`,
		Example: `  permitctl audit list --since 2026-03-01 --actor clerk.wang
  permitctl audit verify`,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(
		newAuditListCommand(g),
		newAuditVerifyCommand(g),
	)
	return cmd
}
