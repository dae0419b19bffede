package command

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// eligibilityOptions are the options of the eligibility command.
type eligibilityOptions struct {
	global  *globalOptions
	subject serviceSubjectOptions
}

// newEligibilityCommand returns the eligibility command.
func newEligibilityCommand(g *globalOptions) *cobra.Command {
	o := &eligibilityOptions{global: g}
	cmd := &cobra.Command{
		Use:   "eligibility " + serviceSubjectUse,
		Short: "Check whether a permit holder may have a service, without submitting; exit status 0 only when eligible",
		Long: `Check a service's eligibility rule for a permit holder without submitting a
request (a dry run), and print the outcome: ELIGIBLE or NOT ELIGIBLE, the
rule version that decided, and each condition, the permit's own validity
first, marked ✓ (holds) or ✗ (does not) with its words and the node's
detail, to read to the resident. Nothing is stored and nothing goes to the
department.

` + serviceSubjectHelp + `

Exit status:
  0  ELIGIBLE
  3  NOT ELIGIBLE
  1  failure, as for every command (e.g. an unknown service or permit)
  2  usage error`,
		Example: `  permitctl eligibility --service employment_registration --permit 330604-4F7K2M9QXW3B7 \
    --field employer=绍兴测试科技有限公司

  # School enrolment of a child, with the service's request field
  permitctl eligibility --service school_enrolment --permit 330604-4F7K2M9QXW3B7 \
    --child-name 测试者小甲 --child-citizen-id 330604201709120030 --field school=上虞区测试小学

  # A permit of another member city, by its credential
  permitctl eligibility --service medical_insurance_enrolment --credential - \
    --citizen-id 110101199003074514 < credential.txt && echo eligible`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.subject.addFlags(cmd.Flags())
	return cmd
}

// run checks the rule, prints the outcome and turns NOT ELIGIBLE into exit
// status 3.
func (o *eligibilityOptions) run(cmd *cobra.Command, _ []string) error {
	s, err := o.subject.subject(cmd)
	if err != nil {
		return err
	}
	req := &epermitv1.CheckEligibilityRequest{Permit: s.permit, Service: s.service, Child: s.child, Fields: s.fields}
	var resp *epermitv1.CheckEligibilityResponse
	err = o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		var err error
		resp, err = c.Scenarios.CheckEligibility(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	if err := scenarioPrinterOf(o.global).Eligibility(s.service, resp); err != nil {
		return err
	}
	if !resp.GetEligible() {
		return &ExitError{Code: exitNotValid, Err: fmt.Errorf("not eligible for %s", s.service)}
	}
	return nil
}
