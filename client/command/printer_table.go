package command

import (
	"fmt"
	"io"
	"strconv"
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
	h := p.GetHolder()
	tb.add("ID", p.GetId())
	tb.add("Status", enumWord(p.GetStatus()))
	tb.add("Name", h.GetName())
	tb.add("Citizen ID", h.GetCitizenId())
	tb.add("Sex", optionalWord(h.GetSex()))
	tb.add("Birth date", orDash(h.GetBirthDate()))
	tb.add("Ethnicity", orDash(h.GetEthnicity()))
	tb.add("Hukou address", orDash(h.GetHukouAddress()))
	tb.add("Residence address", orDash(p.GetResidenceAddress()))
	tb.add("Issuing division", orDash(p.GetIssuingDivision()))
	tb.add("Issuing authority", orDash(p.GetIssuingAuthority()))
	tb.add("Issue date", orDash(p.GetIssueDate()))
	tb.add("Valid until", orNone(p.GetValidUntil()))
	tb.add("Residence start", orDash(p.GetResidenceStartDate()))
	tb.add("Residence years", strconv.Itoa(int(p.GetResidenceYears())))
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
		tb.add("Holder", s.GetHolderName())
		tb.add("Citizen ID", s.GetMaskedCitizenId())
		tb.add("Issuing division", orDash(s.GetIssuingDivision()))
		tb.add("Residence start", orDash(s.GetResidenceStartDate()))
		tb.add("Residence years", strconv.Itoa(int(s.GetResidenceYears())))
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
