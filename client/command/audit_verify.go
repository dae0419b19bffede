package command

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// auditVerifyOptions are the options of the audit verify command.
type auditVerifyOptions struct {
	global *globalOptions
}

// newAuditVerifyCommand returns the audit verify command.
func newAuditVerifyCommand(g *globalOptions) *cobra.Command {
	o := &auditVerifyOptions{global: g}
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain; exit status 0 only when intact",
		Long: `Have the node recompute the hash of every audit log entry and check that
each holds the hash of the one before, then print INTACT or BROKEN, the
number of entries checked, the first entry broken or missing with what is
wrong with it, and the head of the log: the last entry's sequence number and
hash (hex; base64 in -o json).

Record the head somewhere else after each check: entries cut off the end of
the log leave an intact chain, but a head that is shorter, or different at
the same sequence number, shows it.

Exit status:
  0  INTACT
  3  BROKEN
  1  failure, as for every command (e.g. the node cannot be reached)
  2  usage error`,
		Example: `  permitctl audit verify
  permitctl audit verify -o json > audit-head-$(date +%F).json`,
		Args: exactArgs(),
		RunE: o.run,
	}
}

// run checks the chain, prints the outcome and turns a broken chain into
// exit status 3.
func (o *auditVerifyOptions) run(cmd *cobra.Command, _ []string) error {
	var resp *epermitv1.VerifyAuditChainResponse
	err := o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		var err error
		resp, err = c.Audit.VerifyAuditChain(ctx, &epermitv1.VerifyAuditChainRequest{})
		return err
	})
	if err != nil {
		return err
	}
	if err := o.global.printer.AuditChain(resp); err != nil {
		return err
	}
	if !resp.GetIntact() {
		return &ExitError{Code: exitNotValid, Err: fmt.Errorf("the audit log is broken at entry %d: %s",
			resp.GetFirstBadSeq(), orDash(resp.GetProblem()))}
	}
	return nil
}
