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

	// CancellationRequested prints a cancellation request waiting for a
	// second supervisor, and how to approve it.
	CancellationRequested(resp *epermitv1.CancelPermitResponse) error
	// PendingCancellations prints the pending cancellation requests.
	PendingCancellations(resp *epermitv1.ListPendingCancellationsResponse) error
	// CancellationRejected prints a request just rejected or withdrawn.
	CancellationRejected(resp *epermitv1.RejectCancellationResponse) error

	// Account prints one account and, once, a new token.
	Account(a accountResult) error
	// Accounts prints the node's accounts.
	Accounts(resp *epermitv1.ListAccountsResponse) error
	// WhoAmI prints the caller's own account.
	WhoAmI(resp *epermitv1.WhoAmIResponse) error

	// AuditEntries prints audit log entries and whether there are more.
	AuditEntries(resp *epermitv1.ListAuditEntriesResponse) error
	// AuditChain prints the outcome of a check of the audit log's chain.
	AuditChain(resp *epermitv1.VerifyAuditChainResponse) error
}

// accountResult is what the admin commands print.
type accountResult struct {
	// Account is the account as the node returned it.
	Account *epermitv1.Account
	// Token is a bearer token just made for the account, shown this once;
	// empty when none was made.
	Token string
	// Created says the account was just created, so a system account's
	// way of authenticating is explained.
	Created bool
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
