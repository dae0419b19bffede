package command

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// maxCredentialInput bounds the credential text read from standard input.
const maxCredentialInput = 64 << 10

// verifyOptions are the options of the verify command.
type verifyOptions struct {
	global   *globalOptions
	permitID string
	offline  bool
	personal bool
	keyFile  string
}

// newVerifyCommand returns the verify command.
func newVerifyCommand(g *globalOptions) *cobra.Command {
	o := &verifyOptions{global: g}
	cmd := &cobra.Command{
		Use:   "verify [CREDENTIAL_TEXT | -] | --id PERMIT_ID | --offline --key FILE.pem [CREDENTIAL_TEXT | -]",
		Short: "Verify a credential or a permit; exit status 0 only when valid",
		Long: `Verify a credential, as scanned from a permit's QR code, or a permit by id,
and print the verdict (VALID, NOT VALID or STATUS UNKNOWN), each check made
(✓ passed, ✗ failed) with its reason, and the permit as the credential or the
register states it. The node names the holder (with the citizen id masked)
only with --personal-data, which it records in its audit log.

The credential text is the argument; with "-", or with no argument when
standard input is not a terminal, it is read from standard input. --id
checks a permit in the node's register without a credential.

The node checks the credential's format, issuer, signature and time window,
then the permit's current status in its register. With --offline, permitctl
makes the first four checks itself against the one public key in --key (as
written by 'permitctl key export'), for the issuer the credential names, and
contacts no node: the permit's status is not checked, so the verdict is at
best STATUS UNKNOWN, and the output says so. With --offline, --key names the
issuer's public key; without it, --key is the client certificate's private
key for mutual TLS, as for every other command.

Exit status:
  0  VALID; with --offline, authentic and within its time window
  3  NOT VALID, or STATUS UNKNOWN from the node
  1  failure, as for every command (e.g. the node cannot be reached)
  2  usage error`,
		Example: `  permitctl verify 'YRD1:NCFOXN...'
  permitctl verify - < credential.txt
  permitctl verify --id 330604-4F7K2M9QXW3B7 && echo accepted
  permitctl verify --offline --key 330604.pem 'YRD1:NCFOXN...'`,
		Args: o.checkArgs,
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of verify on fs.
func (o *verifyOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.permitID, "id", "", "verify the permit with this `id` in the register instead of a credential")
	fs.BoolVar(&o.personal, "personal-data", false, "ask the node for the holder's name and masked citizen id too (audited; partners need --purpose)")
	fs.BoolVar(&o.offline, "offline", false, "verify without a node, against the key in --key; the status is not checked")
	fs.StringVar(&o.keyFile, "key", "",
		"with --offline, PEM `file` of the issuer's public key; otherwise, as everywhere, the client certificate's private key")
}

// checkArgs accepts at most one argument, and none with --id.
func (o *verifyOptions) checkArgs(cmd *cobra.Command, args []string) error {
	if err := oneCredentialArg(cmd, args); err != nil {
		return err
	}
	switch {
	case o.permitID != "" && len(args) > 0:
		return usagef(cmd, "give either a credential text or --id, not both")
	case o.permitID != "" && o.offline:
		return usagef(cmd, "--offline verifies a credential text, not --id")
	case o.offline && o.keyFile == "":
		return usagef(cmd, "--offline needs --key FILE.pem")
	}
	return nil
}

// run verifies, prints the outcome and turns a verdict other than VALID
// into exit status 3.
func (o *verifyOptions) run(cmd *cobra.Command, args []string) error {
	req := &epermitv1.VerifyPermitRequest{IncludePersonalData: o.personal}
	if o.permitID != "" {
		req.Subject = &epermitv1.VerifyPermitRequest_PermitId{PermitId: o.permitID}
	} else {
		text, err := credentialText(cmd, args)
		if err != nil {
			return err
		}
		req.Subject = &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: text}
	}
	var resp *epermitv1.VerifyPermitResponse
	if o.offline {
		var err error
		if resp, err = verifyOffline(req.GetCredentialText(), o.keyFile, time.Now()); err != nil {
			return err
		}
	} else {
		if cmd.Flags().Changed("key") {
			// Online, --key means what it means everywhere else.
			o.global.conn.key = o.keyFile
		}
		err := o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			var err error
			resp, err = c.Permits.VerifyPermit(ctx, req)
			return err
		})
		if err != nil {
			return err
		}
	}
	if err := o.global.printer.Verification(resp, o.offline); err != nil {
		return err
	}
	return verdictError(resp, o.offline)
}

// verdictError returns nil for a verdict a script may accept (VALID, or
// offline an authentic credential whose status was not checked) and an
// ExitError with status 3 for any other.
func verdictError(resp *epermitv1.VerifyPermitResponse, offline bool) error {
	v := resp.GetVerdict()
	if v == epermitv1.Verdict_VERDICT_VALID || offline && v == epermitv1.Verdict_VERDICT_STATUS_UNKNOWN {
		return nil
	}
	return &ExitError{Code: exitNotValid, Err: fmt.Errorf("verdict: %s", verdictWords(v))}
}

// verdictWords spells a verdict in capitals: "NOT VALID".
func verdictWords(v epermitv1.Verdict) string {
	return strings.ToUpper(strings.ReplaceAll(enumWord(v), "-", " "))
}

// credentialText returns the credential text from the argument or, for "-"
// or no argument with standard input not a terminal, from standard input.
func credentialText(cmd *cobra.Command, args []string) (string, error) {
	in := cmd.InOrStdin()
	var text string
	switch {
	case len(args) == 1 && args[0] != "-":
		text = args[0]
	case len(args) == 1 || !isTerminal(in):
		b, err := io.ReadAll(io.LimitReader(in, maxCredentialInput+1))
		if err != nil {
			return "", fmt.Errorf("reading the credential: %w", err)
		}
		if len(b) > maxCredentialInput {
			return "", fmt.Errorf("the credential on standard input is longer than %d bytes", maxCredentialInput)
		}
		text = string(b)
	default:
		return "", usagef(cmd, "give the CREDENTIAL_TEXT, - to read it from standard input, or --id PERMIT_ID")
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return "", usagef(cmd, "the credential text is empty")
	}
	return text, nil
}
