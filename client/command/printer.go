package command

import (
	"io"

	"github.com/mattn/go-runewidth"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// printer writes command results in one output format. Commands hand every
// result to it and format nothing themselves.
type printer interface {
	// Permit prints one permit and, when cred is not nil, its credential.
	Permit(p *epermitv1.Permit, cred *epermitv1.Credential) error
	// Permits prints a listing: one page, or every page with --all.
	Permits(resp *epermitv1.ListPermitsResponse) error
	// Verification prints a verdict with its findings and the permit
	// summary; offline says that the permit's status was not checked.
	Verification(resp *epermitv1.VerifyPermitResponse, offline bool) error
	// QRCode prints a permit's credential as a QR code.
	QRCode(qr qrCode) error
	// IssuerKey prints a node's issuer key; pemFile names the file the PEM
	// was written to, or is empty when the PEM is for standard output.
	IssuerKey(key *epermitv1.GetIssuerKeyResponse, pemFile string) error
}

// qrCode is what the qr command prints.
type qrCode struct {
	// PermitID is the permit the credential belongs to.
	PermitID string
	// Credential is the permit's current credential.
	Credential *epermitv1.Credential
	// PNGFile, when set, names the file the code was written to, and the
	// code is not drawn on the terminal.
	PNGFile string
	// Invert draws the code for a terminal with a light background.
	Invert bool
}

// newPrinter returns the printer for format, writing results to out and
// messages for the clerk to errOut.
func newPrinter(format outputFormat, out, errOut io.Writer) printer {
	if format == outputJSON {
		return &jsonPrinter{out: out, errOut: errOut}
	}
	return &tablePrinter{out: out, errOut: errOut, width: runewidth.NewCondition()}
}
