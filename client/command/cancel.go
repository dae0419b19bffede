package command

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// errNotConfirmed is returned when the clerk does not confirm a
// cancellation.
var errNotConfirmed = errors.New("not confirmed; nothing was sent to the node")

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
		Short: "Cancel (注销) or confiscate (收缴) a permit; cannot be undone",
		Long: `Cancel (注销) a permit, or confiscate (收缴) it when the reason is forged or
fraudulently-obtained, and print the permit. Both are final: no command
undoes them.

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
run without --yes.`,
		Example: `  permitctl cancel 330604-4F7K2M9QXW3B7 --reason local-hukou
  permitctl cancel 330604-4F7K2M9QXW3B7 --reason other --note "court order (2026) 浙0604 测试1号" --yes`,
		Args: exactArgs("PERMIT_ID"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of cancel on fs.
func (o *cancelOptions) addFlags(fs *pflag.FlagSet) {
	fs.Var(enumFlag[epermitv1.CancelReason]{target: &o.reason, typ: "reason"}, "reason",
		"ground of the cancellation (required): "+strings.Join(enumWords[epermitv1.CancelReason](), ", "))
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
	if !o.yes && !isTerminal(cmd.InOrStdin()) {
		return usagef(cmd, "standard input is not a terminal, so cancel cannot ask for confirmation; pass --yes to cancel without asking")
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
		return o.global.printer.Permit(resp.GetPermit(), nil)
	})
}

// confirmCancel asks on prompt whether to cancel (or confiscate, by reason)
// permit p and reads the answer, one line, from in. It returns nil only when
// the answer is the permit's id, and errNotConfirmed otherwise.
func confirmCancel(in io.Reader, prompt io.Writer, p *epermitv1.Permit, reason epermitv1.CancelReason) error {
	verb := "Cancel"
	if confiscates(reason) {
		verb = "Confiscate"
	}
	if _, err := fmt.Fprintf(prompt, "%s permit %s (%s)? This cannot be undone. Type the permit id to confirm: ",
		verb, p.GetId(), p.GetHolder().GetName()); err != nil {
		return err
	}
	answer, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the confirmation: %w", err)
	}
	if strings.TrimSpace(answer) != p.GetId() || p.GetId() == "" {
		return errNotConfirmed
	}
	return nil
}

// confiscates reports whether reason confiscates (收缴) rather than cancels.
func confiscates(reason epermitv1.CancelReason) bool {
	return reason == epermitv1.CancelReason_CANCEL_REASON_FORGED ||
		reason == epermitv1.CancelReason_CANCEL_REASON_FRAUDULENTLY_OBTAINED
}
