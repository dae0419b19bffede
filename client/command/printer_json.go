package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// jsonPrinter prints results as protobuf JSON with proto field names,
// leaving out unset fields, indented by two spaces.
type jsonPrinter struct {
	out    io.Writer
	errOut io.Writer
}

// Ensure jsonPrinter is a printer.
var _ printer = (*jsonPrinter)(nil)

// Permit prints {"permit": ..., "credential": ...}, the shape of the
// responses of IssuePermit, GetPermit and EndorsePermit; without a
// credential, that of SuspendPermit, ReinstatePermit and CancelPermit.
func (j *jsonPrinter) Permit(p *epermitv1.Permit, cred *epermitv1.Credential) error {
	return j.print(&epermitv1.GetPermitResponse{Permit: p, Credential: cred})
}

// Permits prints the ListPermitsResponse.
func (j *jsonPrinter) Permits(resp *epermitv1.ListPermitsResponse) error {
	return j.print(resp)
}

// Verification prints the VerifyPermitResponse; offline, a note that the
// status was not checked goes to errOut.
func (j *jsonPrinter) Verification(resp *epermitv1.VerifyPermitResponse, offline bool) error {
	if offline {
		if _, err := fmt.Fprintln(j.errOut, offlineNote); err != nil {
			return err
		}
	}
	return j.print(resp)
}

// QRCode prints the credential.
func (j *jsonPrinter) QRCode(qr qrCode) error {
	return j.print(qr.Credential)
}

// IssuerKey prints the GetIssuerKeyResponse, which holds the PEM.
func (j *jsonPrinter) IssuerKey(key *epermitv1.GetIssuerKeyResponse, _ string) error {
	return j.print(key)
}

// CancellationRequested prints the CancelPermitResponse: the unchanged
// permit and the pending request; how to approve it goes to errOut.
func (j *jsonPrinter) CancellationRequested(resp *epermitv1.CancelPermitResponse) error {
	if err := j.note(approveNote(resp.GetPending())); err != nil {
		return err
	}
	return j.print(resp)
}

// PendingCancellations prints the ListPendingCancellationsResponse.
func (j *jsonPrinter) PendingCancellations(resp *epermitv1.ListPendingCancellationsResponse) error {
	return j.print(resp)
}

// CancellationRejected prints the RejectCancellationResponse.
func (j *jsonPrinter) CancellationRejected(resp *epermitv1.RejectCancellationResponse) error {
	return j.print(resp)
}

// Account prints {"account": ..., "token": ...}, the shape of the responses
// of CreateAccount and RotateToken, and without a token that of
// DisableAccount and EnableAccount. The warning that a token is shown only
// now goes to errOut.
func (j *jsonPrinter) Account(r accountResult) error {
	for _, n := range accountNotes(r) {
		if err := j.note(n); err != nil {
			return err
		}
	}
	return j.print(&epermitv1.CreateAccountResponse{Account: r.Account, Token: r.Token})
}

// Accounts prints the ListAccountsResponse.
func (j *jsonPrinter) Accounts(resp *epermitv1.ListAccountsResponse) error {
	return j.print(resp)
}

// WhoAmI prints the WhoAmIResponse.
func (j *jsonPrinter) WhoAmI(resp *epermitv1.WhoAmIResponse) error {
	return j.print(resp)
}

// AuditEntries prints the ListAuditEntriesResponse; next_page_token is set
// when there are more entries.
func (j *jsonPrinter) AuditEntries(resp *epermitv1.ListAuditEntriesResponse) error {
	return j.print(resp)
}

// AuditChain prints the VerifyAuditChainResponse; hashes are base64, as
// protobuf JSON writes bytes.
func (j *jsonPrinter) AuditChain(resp *epermitv1.VerifyAuditChainResponse) error {
	return j.print(resp)
}

// note writes a note for people to errOut.
func (j *jsonPrinter) note(s string) error {
	_, err := fmt.Fprintln(j.errOut, s)
	return err
}

// print writes m as indented JSON and a newline.
func (j *jsonPrinter) print(m proto.Message) error {
	return j.write(m, func(dst *bytes.Buffer, b []byte) error { return json.Indent(dst, b, "", "  ") })
}

// printLine writes m as JSON on one line and a newline, for a stream of
// objects (JSON Lines).
func (j *jsonPrinter) printLine(m proto.Message) error {
	return j.write(m, json.Compact)
}

// write writes m as protobuf JSON laid out by layout, and a newline.
// protojson's own spacing varies between builds by design, so the output
// is laid out again with encoding/json to keep it stable.
func (j *jsonPrinter) write(m proto.Message, layout func(dst *bytes.Buffer, src []byte) error) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := layout(&buf, b); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = j.out.Write(buf.Bytes())
	return err
}
