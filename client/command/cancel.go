package command

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// cancelOptions are the options of the cancel command.
type cancelOptions struct {
	global  *globalOptions
	reason  epermitv1.CancelReason
	note    string
	yes     bool
	version versionOptions
	request requestOptions
}

// newCancelCommand returns the cancel command.
func newCancelCommand(g *globalOptions) *cobra.Command {
	o := &cancelOptions{global: g}
	cmd := &cobra.Command{
		Use:   "cancel PERMIT_ID --reason REASON [--note TEXT] [--yes] [--if-version N] [--request-id ID]",
		Short: "Request the cancellation (注销) or confiscation (收缴) of a permit",
		Long: `Request the cancellation (注销) of a permit, or its confiscation (收缴) when
the reason is forged or fraudulently-obtained, and print the pending
request. Both are final once done, so they take two supervisors of the
division (四眼原则): this command files the request, and the permit stays as
it is until a second supervisor approves it with
'permitctl pending approve PENDING_ID'. Until then the requester may
withdraw it, or another supervisor reject it, with
'permitctl pending reject PENDING_ID'. The node refuses (already exists) a
second request for a permit while one is pending.

Reasons:
  false-materials        obtained with false materials
  conditions-not-met     the holder no longer meets the conditions
  local-hukou            the holder obtained local household registration
  death                  the holder died
  expired                the card validity ran out
  other                  other grounds set by law; say which with --note
  forged                 the permit is forged (confiscates)
  fraudulently-obtained  the permit was obtained by fraud (confiscates)

Unless --yes is given, permitctl reads the permit and asks on the terminal
for its id to be typed back; any other answer aborts with exit status 1 and
nothing is sent. When standard input is not a terminal, cancel refuses to
run without --yes.

The table shows the pending request: its id, the permit, the reason, who
requested it and when; how to approve it goes to standard error. -o json
prints the node's response: the unchanged permit and the pending request.`,
		Example: `  permitctl cancel 330604-4F7K2M9QXW3B7 --reason local-hukou
  permitctl cancel 330604-4F7K2M9QXW3B7 --reason other --note "court order (2026) 浙0604 测试1号" --yes

  # then a second supervisor, with the id printed above
  permitctl pending approve pc-5KQ2M9XW3B7T`,
		Args: exactArgs("PERMIT_ID"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of cancel on fs.
func (o *cancelOptions) addFlags(fs *pflag.FlagSet) {
	fs.Var(enumFlag[epermitv1.CancelReason]{target: &o.reason, typ: "reason"}, "reason",
		"ground of the cancellation (required): "+strings.Join(cancelReasonWords(), ", "))
	fs.StringVar(&o.note, "note", "", "free `text` of up to 500 characters; required with --reason other")
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
	o.version.addFlags(fs)
	o.request.addFlags(fs)
}

// run confirms, cancels the permit and prints it.
func (o *cancelOptions) run(cmd *cobra.Command, args []string) error {
	if err := requireFlags(cmd, "reason"); err != nil {
		return err
	}
	if err := canConfirm(cmd, o.yes); err != nil {
		return err
	}
	id := args[0]
	return o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		var version int64
		if o.yes {
			v, err := o.version.version(ctx, cmd, c, id)
			if err != nil {
				return err
			}
			version = v
		} else {
			resp, err := c.Permits.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: id})
			if err != nil {
				return err
			}
			if err := confirmCancel(cmd.InOrStdin(), cmd.ErrOrStderr(), resp.GetPermit(), o.reason); err != nil {
				return err
			}
			version = resp.GetPermit().GetVersion()
			if o.version.given(cmd) {
				version = o.version.ifVersion
			}
		}
		resp, err := c.Permits.CancelPermit(ctx, &epermitv1.CancelPermitRequest{
			RequestId: o.request.id(), PermitId: id, Version: version, Reason: o.reason, Note: o.note,
		})
		if err != nil {
			return o.request.explain(err)
		}
		return o.global.printer.CancellationRequested(resp)
	})
}

// confirmCancel asks on prompt whether to request the cancellation (or
// confiscation, by reason) of permit p and reads the answer, one line, from
// in. It returns nil only when the answer is the permit's id, and
// errNotConfirmed otherwise.
func confirmCancel(in io.Reader, prompt io.Writer, p *epermitv1.Permit, reason epermitv1.CancelReason) error {
	what := "cancellation"
	if confiscates(reason) {
		what = "confiscation"
	}
	question := fmt.Sprintf("Request the %s of permit %s (%s)? Once a second supervisor approves, it cannot be undone.",
		what, p.GetId(), p.GetHolder().GetName())
	return confirm(in, prompt, question, p.GetId(), "permit id")
}

// confiscates reports whether reason confiscates (收缴) rather than cancels.
func confiscates(reason epermitv1.CancelReason) bool {
	return reason == epermitv1.CancelReason_CANCEL_REASON_FORGED ||
		reason == epermitv1.CancelReason_CANCEL_REASON_FRAUDULENTLY_OBTAINED
}

// cancelReasonWords are the grounds a supervisor may give: every reason
// but "withdrawn", which the node alone records.
func cancelReasonWords() []string {
	return slices.DeleteFunc(enumWords[epermitv1.CancelReason](), func(w string) bool {
		return w == enumWord(epermitv1.CancelReason_CANCEL_REASON_WITHDRAWN)
	})
}
