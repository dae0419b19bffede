package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// conditionNotMet is the type of the PreconditionFailure violations with
// which the node names each condition a refused request does not meet.
const conditionNotMet = "CONDITION_NOT_MET"

// requestSubmitOptions are the options of the request submit command.
type requestSubmitOptions struct {
	global  *globalOptions
	subject serviceSubjectOptions
	request requestOptions
}

// newRequestSubmitCommand returns the request submit command.
func newRequestSubmitCommand(g *globalOptions) *cobra.Command {
	o := &requestSubmitOptions{global: g}
	cmd := &cobra.Command{
		Use:   "submit " + serviceSubjectUse + " [--request-id ID]",
		Short: "Submit a service request for a permit holder",
		Long: `Submit a request for a public service for a permit holder, and print it.

The node checks the permit and the service's eligibility rule, stores the
request and puts its delivery to the department in the outbox; the request
starts as submitted. When the permit is not valid or the rule is not met,
the node refuses it (failed precondition) and permitctl lists each
condition not met on standard error, one per line, to read to the
resident; exit status 1. 'permitctl eligibility' with the same flags shows
every condition with its outcome, also as JSON.

` + serviceSubjectHelp + `

A submission is safe to repeat with the same --request-id: the node answers
with the request it made the first time.`,
		Example: `  permitctl request submit --service employment_registration --permit 330604-4F7K2M9QXW3B7 \
    --field employer=绍兴测试科技有限公司

  # School enrolment of a child
  permitctl request submit --service school_enrolment --permit 330604-4F7K2M9QXW3B7 \
    --child-name 测试者小甲 --child-citizen-id 330604201709120030 --field school=上虞区测试小学 \
    --request-id enrol-2026-0001

  # A permit of another member city, by its credential
  permitctl request submit --service medical_insurance_enrolment --credential - \
    --citizen-id 110101199003074514 -o json < credential.txt`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.subject.addFlags(cmd.Flags())
	o.request.addFlags(cmd.Flags())
	return cmd
}

// run submits the request and prints it.
func (o *requestSubmitOptions) run(cmd *cobra.Command, _ []string) error {
	s, err := o.subject.subject(cmd)
	if err != nil {
		return err
	}
	req := &epermitv1.SubmitServiceRequestRequest{
		RequestId: o.request.id(), Permit: s.permit, Service: s.service, Child: s.child, Fields: s.fields,
	}
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Scenarios.SubmitServiceRequest(ctx, req)
		if err != nil {
			return conditionsNotMet(o.request.explain(err))
		}
		return scenarioPrinterOf(o.global).ServiceRequest(resp.GetRequest())
	})
}

// conditionsNotMet returns err unchanged unless it is a failed precondition
// naming conditions not met; then it returns an error that lists them one
// per line (the node's other violations after them), for a clerk to read
// to the resident.
func conditionsNotMet(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return err
	}
	var conditions, others []string
	for _, d := range st.Details() {
		pf, ok := d.(*errdetails.PreconditionFailure)
		if !ok {
			continue
		}
		for _, v := range pf.GetViolations() {
			if v.GetType() == conditionNotMet {
				conditions = append(conditions, "  ✗ "+oneLine(v.GetDescription()))
				continue
			}
			others = append(others, "  "+oneLine(strings.TrimSpace(v.GetSubject()+" "+v.GetType()+": "+v.GetDescription())))
		}
	}
	if len(conditions) == 0 {
		return err
	}
	msg := "failed precondition: not submitted"
	if m := oneLine(st.Message()); m != "" {
		msg += ": " + m
	}
	msg += fmt.Sprintf("\nconditions not met (%d):\n%s", len(conditions), strings.Join(conditions, "\n"))
	if len(others) > 0 {
		msg += "\nalso:\n" + strings.Join(others, "\n")
	}
	return errors.New(msg)
}

// oneLine replaces runs of white space and control characters in s by
// one space, so that each condition takes one line and cannot drive the
// terminal.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}
