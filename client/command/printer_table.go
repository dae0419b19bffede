package command

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/skip2/go-qrcode"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// offlineNote says what an offline verification leaves out.
const offlineNote = "Status not checked: verified offline against the issuer's public key only; " +
	"the permit may since have been suspended or cancelled."

// chinaStandardTime is the zone times are shown in.
var chinaStandardTime = time.FixedZone("CST", 8*60*60)

// tablePrinter prints results as aligned tables for people.
type tablePrinter struct {
	out    io.Writer
	errOut io.Writer
	// width measures display width; locale-dependent in production, fixed
	// in tests.
	width *runewidth.Condition
	// watchHeader says the header of request watch's lines was printed.
	watchHeader bool
}

// Ensure tablePrinter is a printer.
var _ printer = (*tablePrinter)(nil)

// newTable returns an empty table measured like the printer's.
func (t *tablePrinter) newTable() *table {
	return &table{width: t.width}
}

// Permit prints a vertical list of every field of p, then the credential.
func (t *tablePrinter) Permit(p *epermitv1.Permit, cred *epermitv1.Credential) error {
	tb := t.newTable()
	tb.add("ID", p.GetId())
	tb.add("Status", enumWord(p.GetStatus()))
	if r := p.GetPendingReason(); r != "" {
		tb.add("Pending", r)
	}
	if id := p.GetSupersededBy(); id != "" {
		tb.add("Superseded by", id)
	}
	addHolder(tb, p.GetHolder())
	tb.add("Residence address", orDash(p.GetResidenceAddress()))
	tb.add("Issuing division", orDash(p.GetIssuingDivision()))
	tb.add("Issuing authority", orDash(p.GetIssuingAuthority()))
	tb.add("Issue date", orDash(p.GetIssueDate()))
	tb.add("Valid until", orNone(p.GetValidUntil()))
	tb.add("Residence start", orDash(p.GetResidenceStartDate()))
	tb.add("Residence years", strconv.Itoa(int(p.GetResidenceYears())))
	tb.add("Residence months (Delta)", strconv.Itoa(int(p.GetResidenceMonths())))
	tb.add("Next endorsement due", orDash(p.GetNextEndorsementDue()))
	tb.add("Endorsement window opens", orDash(p.GetEndorsementWindowOpens()))
	if len(p.GetEndorsements()) == 0 {
		tb.add("Endorsements", "none")
	}
	for i, e := range p.GetEndorsements() {
		label := ""
		if i == 0 {
			label = "Endorsements"
		}
		due := "due " + e.GetDueDate()
		if e.GetLate() {
			due += ", late"
		}
		tb.add(label, e.GetDate()+" ("+due+")")
	}
	if s := p.GetSuspension(); s != nil {
		tb.add("Suspended", s.GetReason()+" (since "+formatTime(s.GetTime())+")")
	}
	if c := p.GetCancellation(); c != nil {
		tb.add("Cancellation", enumWord(c.GetReason())+" on "+formatTime(c.GetTime()))
		if c.GetNote() != "" {
			tb.add("Cancellation note", c.GetNote())
		}
	}
	if id := p.GetTransferredFrom(); id != "" {
		tb.add("Transferred from", id)
	}
	for i, r := range p.GetPriorResidence() {
		label := ""
		if i == 0 {
			label = "Prior residence"
		}
		tb.add(label, fmt.Sprintf("%s  %s  %s to %s", r.GetDivision(), r.GetPermitId(), r.GetStartDate(), r.GetEndDate()))
	}
	tb.add("Version", strconv.FormatInt(p.GetVersion(), 10))
	tb.add("Created", orDash(formatTime(p.GetCreateTime())))
	tb.add("Updated", orDash(formatTime(p.GetUpdateTime())))
	tb.add("Credential signed", orDash(formatTime(p.GetCredentialTime())))
	if cred != nil {
		tb.add("Credential key id", orDash(cred.GetKid()))
		tb.add("Credential expires", orDash(formatTime(cred.GetExpireTime())))
		tb.add("Credential", cred.GetText())
	}
	return tb.writeTo(t.out)
}

// addHolder adds the rows of a permit's holder or an applicant.
func addHolder(tb *table, h *epermitv1.Holder) {
	tb.add("Name", h.GetName())
	tb.add("Citizen ID", h.GetCitizenId())
	tb.add("Sex", optionalWord(h.GetSex()))
	tb.add("Birth date", orDash(h.GetBirthDate()))
	tb.add("Ethnicity", orDash(h.GetEthnicity()))
	tb.add("Hukou address", orDash(h.GetHukouAddress()))
}

// Permits prints one row per permit, the citizen id masked; the next page
// token, if any, goes to errOut.
func (t *tablePrinter) Permits(resp *epermitv1.ListPermitsResponse) error {
	if len(resp.GetPermits()) == 0 {
		if _, err := fmt.Fprintln(t.errOut, "No permits found."); err != nil {
			return err
		}
	} else {
		tb := t.newTable()
		tb.add("ID", "NAME", "CITIZEN ID", "STATUS", "NEXT DUE", "VERSION")
		for _, p := range resp.GetPermits() {
			tb.add(p.GetId(), p.GetHolder().GetName(), maskCitizenID(p.GetHolder().GetCitizenId()),
				enumWord(p.GetStatus()), orDash(p.GetNextEndorsementDue()), strconv.FormatInt(p.GetVersion(), 10))
		}
		if err := tb.writeTo(t.out); err != nil {
			return err
		}
	}
	if tok := resp.GetNextPageToken(); tok != "" {
		_, err := fmt.Fprintf(t.errOut, "More permits: run again with --page-token %s, or use --all.\n", tok)
		return err
	}
	return nil
}

// Verification prints the verdict, a line per finding, and the permit
// summary; offline, a note that the status was not checked.
func (t *tablePrinter) Verification(resp *epermitv1.VerifyPermitResponse, offline bool) error {
	verdict := verdictWords(resp.GetVerdict())
	if offline {
		verdict += " (offline)"
	}
	if _, err := fmt.Fprintln(t.out, verdict); err != nil {
		return err
	}
	findings := t.newTable()
	for _, f := range resp.GetFindings() {
		mark := "✗"
		if f.GetPassed() {
			mark = "✓"
		}
		findings.add(mark+" "+enumWord(f.GetCheck()), f.GetDetail())
	}
	if err := findings.writeTo(t.out); err != nil {
		return err
	}
	if s := resp.GetPermit(); s != nil {
		tb := t.newTable()
		tb.add("Permit", s.GetPermitId())
		tb.add("Holder", orDash(s.GetHolderName()))
		tb.add("Citizen ID", orDash(s.GetMaskedCitizenId()))
		tb.add("Issuing division", orDash(s.GetIssuingDivision()))
		tb.add("Residence start", orDash(s.GetResidenceStartDate()))
		tb.add("Residence years", strconv.Itoa(int(s.GetResidenceYears())))
		tb.add("Residence months (Delta)", strconv.Itoa(int(s.GetResidenceMonths())))
		tb.add("Next endorsement due", orDash(s.GetNextEndorsementDue()))
		tb.add("Credential expires", orDash(formatTime(s.GetExpireTime())))
		if resp.GetStatus() != epermitv1.PermitStatus_PERMIT_STATUS_UNSPECIFIED {
			tb.add("Register status", enumWord(resp.GetStatus()))
		}
		if _, err := fmt.Fprintln(t.out); err != nil {
			return err
		}
		if err := tb.writeTo(t.out); err != nil {
			return err
		}
	}
	if offline {
		_, err := fmt.Fprintf(t.out, "\n%s\n", offlineNote)
		return err
	}
	return nil
}

// QRCode draws the credential as a QR code of half-block characters, or
// says where the PNG went, followed by the credential text.
func (t *tablePrinter) QRCode(qr qrCode) error {
	text := qr.Credential.GetText()
	var head string
	if qr.PNGFile != "" {
		head = fmt.Sprintf("QR code of permit %s written to %s\n", qr.PermitID, qr.PNGFile)
	} else {
		code, err := qrcode.New(text, qrcode.Medium)
		if err != nil {
			return fmt.Errorf("drawing the QR code: %w", err)
		}
		// go-qrcode draws light modules as blocks unless inverted: right
		// for a dark terminal background.
		head = code.ToSmallString(qr.Invert)
	}
	_, err := fmt.Fprintf(t.out, "%s%s\n", head, text)
	return err
}

// IssuerKey prints the division, key id and algorithm. When pemFile is
// empty the PEM goes to out and the rest to errOut, so that out can be
// redirected to a file.
func (t *tablePrinter) IssuerKey(key *epermitv1.GetIssuerKeyResponse, pemFile string) error {
	info := t.out
	if pemFile == "" {
		if _, err := io.WriteString(t.out, key.GetPublicKeyPem()); err != nil {
			return err
		}
		info = t.errOut
	} else if _, err := fmt.Fprintf(t.out, "Public key written to %s\n", pemFile); err != nil {
		return err
	}
	tb := t.newTable()
	tb.add("Division", key.GetDivision())
	tb.add("Key id", key.GetKid())
	tb.add("Algorithm", key.GetAlgorithm())
	return tb.writeTo(info)
}

// CancellationRequested prints the pending request under a heading; how
// to approve it goes to errOut.
func (t *tablePrinter) CancellationRequested(resp *epermitv1.CancelPermitResponse) error {
	pc := resp.GetPending()
	what := "Cancellation"
	if confiscates(pc.GetReason()) {
		what = "Confiscation"
	}
	if _, err := fmt.Fprintf(t.out, "%s requested; waiting for a second supervisor's approval.\n", what); err != nil {
		return err
	}
	tb := t.newTable()
	t.pendingRows(tb, pc, resp.GetPermit())
	if err := tb.writeTo(t.out); err != nil {
		return err
	}
	_, err := fmt.Fprintln(t.errOut, approveNote(pc))
	return err
}

// PendingCancellations prints one row per pending request.
func (t *tablePrinter) PendingCancellations(resp *epermitv1.ListPendingCancellationsResponse) error {
	if len(resp.GetPending()) == 0 {
		_, err := fmt.Fprintln(t.errOut, "No pending cancellations.")
		return err
	}
	tb := t.newTable()
	tb.add("ID", "PERMIT", "REASON", "REQUESTED BY", "REQUESTED", "NOTE")
	for _, pc := range resp.GetPending() {
		tb.add(pc.GetId(), pc.GetPermitId(), enumWord(pc.GetReason()), pc.GetRequestedBy(),
			orDash(formatTime(pc.GetRequestTime())), orDash(pc.GetNote()))
	}
	return tb.writeTo(t.out)
}

// CancellationRejected prints the request under a heading saying the permit
// is unchanged.
func (t *tablePrinter) CancellationRejected(resp *epermitv1.RejectCancellationResponse) error {
	pc := resp.GetPending()
	if _, err := fmt.Fprintf(t.out, "Request %s rejected; permit %s is unchanged.\n", pc.GetId(), pc.GetPermitId()); err != nil {
		return err
	}
	tb := t.newTable()
	t.pendingRows(tb, pc, nil)
	return tb.writeTo(t.out)
}

// pendingRows adds the rows of a pending request to tb, with the holder's
// name when p, the permit, is known.
func (t *tablePrinter) pendingRows(tb *table, pc *epermitv1.PendingCancellation, p *epermitv1.Permit) {
	tb.add("Pending ID", pc.GetId())
	tb.add("Permit", pc.GetPermitId())
	if p != nil {
		tb.add("Holder", orDash(p.GetHolder().GetName()))
	}
	tb.add("Reason", enumWord(pc.GetReason()))
	tb.add("Note", orDash(pc.GetNote()))
	tb.add("Requested by", orDash(pc.GetRequestedBy()))
	tb.add("Requested", orDash(formatTime(pc.GetRequestTime())))
	tb.add("Permit version", strconv.FormatInt(pc.GetPermitVersion(), 10))
}

// Account prints the account and any new token; the warning that the token
// is shown only now goes to errOut.
func (t *tablePrinter) Account(r accountResult) error {
	tb := t.newTable()
	t.accountRows(tb, r.Account, "")
	if r.Token != "" {
		tb.add("Token", r.Token)
	}
	if err := tb.writeTo(t.out); err != nil {
		return err
	}
	for _, n := range accountNotes(r) {
		if _, err := fmt.Fprintln(t.errOut, n); err != nil {
			return err
		}
	}
	return nil
}

// Accounts prints one row per account.
func (t *tablePrinter) Accounts(resp *epermitv1.ListAccountsResponse) error {
	if len(resp.GetAccounts()) == 0 {
		_, err := fmt.Fprintln(t.errOut, "No accounts.")
		return err
	}
	tb := t.newTable()
	tb.add("NAME", "KIND", "ROLES", "DIVISION", "STATUS", "TOKEN ISSUED", "NOTE")
	for _, a := range resp.GetAccounts() {
		tb.add(a.GetName(), optionalWord(a.GetKind()), strings.ReplaceAll(enumList(a.GetRoles()), " ", ""),
			orDash(a.GetDivision()), accountStatus(a), orDash(formatTime(a.GetTokenTime())), orDash(a.GetNote()))
	}
	return tb.writeTo(t.out)
}

// WhoAmI prints the caller's account and how it authenticated.
func (t *tablePrinter) WhoAmI(resp *epermitv1.WhoAmIResponse) error {
	tb := t.newTable()
	t.accountRows(tb, resp.GetAccount(), orDash(resp.GetAuthenticatedBy()))
	return tb.writeTo(t.out)
}

// accountRows adds the rows of account a to tb, with how the caller
// authenticated when by is not empty.
func (t *tablePrinter) accountRows(tb *table, a *epermitv1.Account, by string) {
	tb.add("Name", a.GetName())
	if by != "" {
		tb.add("Authenticated by", by)
	}
	tb.add("Kind", optionalWord(a.GetKind()))
	tb.add("Roles", enumList(a.GetRoles()))
	tb.add("Division", orDash(a.GetDivision()))
	tb.add("Status", accountStatus(a))
	tb.add("Note", orDash(a.GetNote()))
	tb.add("Created", orDash(formatTime(a.GetCreateTime())))
	tb.add("Updated", orDash(formatTime(a.GetUpdateTime())))
	if a.GetKind() != epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM {
		tb.add("Token issued", orDash(formatTime(a.GetTokenTime())))
	}
}

// accountStatus spells whether an account may authenticate.
func accountStatus(a *epermitv1.Account) string {
	if a.GetDisabled() {
		return "disabled"
	}
	return "enabled"
}

// AuditEntries prints one row per entry; that there are more goes to
// errOut.
func (t *tablePrinter) AuditEntries(resp *epermitv1.ListAuditEntriesResponse) error {
	if len(resp.GetEntries()) == 0 {
		if _, err := fmt.Fprintln(t.errOut, "No audit entries found."); err != nil {
			return err
		}
	} else {
		tb := t.newTable()
		tb.add("SEQ", "TIME", "ACTOR", "METHOD", "TARGET", "OUTCOME", "PURPOSE")
		for _, e := range resp.GetEntries() {
			tb.add(strconv.FormatUint(e.GetSeq(), 10), orDash(formatTime(e.GetTime())), orDash(e.GetActor()),
				shortMethod(e.GetMethod()), orDash(e.GetTarget()), orDash(e.GetOutcome()), orDash(e.GetPurpose()))
		}
		if err := tb.writeTo(t.out); err != nil {
			return err
		}
	}
	if resp.GetNextPageToken() != "" {
		_, err := fmt.Fprintln(t.errOut, "More entries: run again with a larger --limit, or use --all.")
		return err
	}
	return nil
}

// shortMethod drops the package from a full gRPC method name:
// "/epermit.v1.PermitService/IssuePermit" becomes "PermitService/IssuePermit".
func shortMethod(m string) string {
	m = strings.TrimPrefix(m, "/")
	if svc, method, ok := strings.Cut(m, "/"); ok {
		if i := strings.LastIndexByte(svc, '.'); i >= 0 {
			svc = svc[i+1:]
		}
		return svc + "/" + method
	}
	return orDash(m)
}

// AuditChain prints INTACT or BROKEN, then the entries checked, the first
// bad entry and its problem, and the head of the log.
func (t *tablePrinter) AuditChain(resp *epermitv1.VerifyAuditChainResponse) error {
	verdict := "INTACT"
	if !resp.GetIntact() {
		verdict = "BROKEN"
	}
	if _, err := fmt.Fprintln(t.out, verdict); err != nil {
		return err
	}
	tb := t.newTable()
	tb.add("Entries", strconv.FormatUint(resp.GetEntries(), 10))
	if !resp.GetIntact() {
		tb.add("First bad seq", strconv.FormatUint(resp.GetFirstBadSeq(), 10))
		tb.add("Problem", orDash(resp.GetProblem()))
	}
	tb.add("Head seq", strconv.FormatUint(resp.GetHeadSeq(), 10))
	tb.add("Head hash", orDash(hex.EncodeToString(resp.GetHeadHash())))
	return tb.writeTo(t.out)
}

// optionalWord spells an enum value with enumWord, and the zero value as
// "-".
func optionalWord(e protoreflect.Enum) string {
	if e.Number() == 0 {
		return "-"
	}
	return enumWord(e)
}

// orDash returns s, or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orNone returns s, or "none" when s is empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// formatTime shows ts in China Standard Time to the second, or "" when ts
// is not set.
func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().In(chinaStandardTime).Format("2006-01-02 15:04:05 MST")
}

// maskCitizenID hides characters 7 to 14 of a citizen id number, the date
// of birth, behind '*': 330602199001011237 becomes 330602********1237.
func maskCitizenID(id string) string {
	r := []rune(id)
	for i := 6; i < 14 && i < len(r); i++ {
		r[i] = '*'
	}
	return string(r)
}
