package command

import (
	"github.com/spf13/cobra"
)

// newRequestCommand returns the request command, which groups the
// subcommands for service requests.
func newRequestCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "request",
		Aliases: []string{"req"},
		Short:   "Submit, show, list, watch, cancel and retry service requests for permit holders",
		Long: `A service request asks a department for a public service on behalf of a
permit holder ('permitctl scenarios' lists the services). The clerk submits
it; the node checks the permit and the service's eligibility rule, stores
the request and delivers it to the department through a durable outbox,
retrying with backoff while the department is slow or down. 'permitctl
eligibility' checks the rule first without submitting anything.

A request moves through these states, each change kept in its history:
  submitted  stored, waiting in the outbox for delivery
  routed     delivered to the department, which has not decided yet
  accepted   the department took it in; the outcome follows
  rejected   the department refused it (final)
  completed  the department provided the service (final)
  failed     delivery failed after the last attempt; 'request retry' puts it
             back in the outbox
  cancelled  cancelled before the department decided (final)`,
		Example: `  permitctl request submit --service employment_registration --permit 330604-4F7K2M9QXW3B7 \
    --field employer=绍兴测试科技有限公司
  permitctl request list --state failed
  permitctl request retry S330604-0G3K4A1B2C3D4
  permitctl request watch --department education`,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(
		newRequestSubmitCommand(g),
		newRequestShowCommand(g),
		newRequestListCommand(g),
		newRequestWatchCommand(g),
		newRequestCancelCommand(g),
		newRequestRetryCommand(g),
	)
	return cmd
}
