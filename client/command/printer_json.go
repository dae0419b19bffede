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

// print writes m as indented JSON and a newline. protojson's own spacing
// varies between builds by design, so the output is re-indented with
// encoding/json to keep it stable.
func (j *jsonPrinter) print(m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = j.out.Write(buf.Bytes())
	return err
}
