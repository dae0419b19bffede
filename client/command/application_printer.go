package command

import (
	"fmt"
	"strconv"
	"strings"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// applicationPrinter prints the results of the application commands. Both
// printers implement it beside printer.
type applicationPrinter interface {
	// Application prints one application and, after an approval, the
	// permit issued (nil otherwise).
	Application(a *epermitv1.Application, issued *epermitv1.Permit) error
	// Applications prints a listing with the overdue count.
	Applications(resp *epermitv1.ListApplicationsResponse) error
}

// Ensure both printers are application printers.
var (
	_ applicationPrinter = (*tablePrinter)(nil)
	_ applicationPrinter = (*jsonPrinter)(nil)
)

// Application prints a vertical list of the application's fields, then
// the permit issued; what to tell the applicant goes to errOut.
func (t *tablePrinter) Application(a *epermitv1.Application, issued *epermitv1.Permit) error {
	tb := t.newTable()
	tb.add("ID", a.GetId())
	tb.add("State", enumWord(a.GetState()))
	if a.GetState() == epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED {
		tb.add("Overdue", yesNo(a.GetOverdue()))
	}
	addHolder(tb, a.GetHolder())
	tb.add("Residence address", orDash(a.GetResidenceAddress()))
	tb.add("Residence start", orDash(a.GetResidenceStartDate()))
	tb.add("Channel", optionalWord(a.GetChannel()))
	tb.add("Target division", orDash(a.GetTargetDivision()))
	tb.add("Accepting division", orDash(a.GetAcceptingDivision()))
	if id := a.GetOriginApplicationId(); id != "" {
		tb.add("Origin application", id)
	}
	if id := a.GetForwardedId(); id != "" {
		tb.add("Forwarded as", id)
	}
	tb.add("Materials provided", orNone(strings.Join(a.GetMaterialsProvided(), ", ")))
	if len(a.GetMissingMaterials()) == 0 {
		tb.add("Missing materials", "none")
	}
	for i, m := range a.GetMissingMaterials() {
		label := ""
		if i == 0 {
			label = "Missing materials"
		}
		tb.add(label, m.GetCode()+"  "+m.GetNameZh()+" / "+m.GetNameEn())
		if len(m.GetAnyOf()) > 0 {
			var codes []string
			for _, c := range m.GetAnyOf() {
				codes = append(codes, c.GetCode())
			}
			tb.add("", "  any one of: "+strings.Join(codes, ", "))
		}
	}
	if a.GetAcceptTime() != nil {
		tb.add("Accepted", formatTime(a.GetAcceptTime()))
		tb.add("Deadline", fmt.Sprintf("%s (%d days)", formatTime(a.GetDeadline()), a.GetDeadlineDays()))
	}
	if id := a.GetPermitId(); id != "" {
		tb.add("Permit", id)
	}
	for i, r := range a.GetRejectionReasons() {
		label := ""
		if i == 0 {
			label = "Rejection reasons"
		}
		tb.add(label, r)
	}
	tb.add("Submitted by", orDash(a.GetSubmittedBy()))
	if s := a.GetSupplementedBy(); s != "" {
		tb.add("Supplemented by", s)
	}
	if d := a.GetDecidedBy(); d != "" || a.GetDecideTime() != nil {
		tb.add("Decided by", orDash(d)+" on "+formatTime(a.GetDecideTime()))
	}
	tb.add("Version", strconv.FormatInt(a.GetVersion(), 10))
	tb.add("Created", orDash(formatTime(a.GetCreateTime())))
	tb.add("Updated", orDash(formatTime(a.GetUpdateTime())))
	if err := tb.writeTo(t.out); err != nil {
		return err
	}
	if issued != nil {
		if _, err := fmt.Fprintf(t.out, "\nPermit %s issued (%s).\n", issued.GetId(), enumWord(issued.GetStatus())); err != nil {
			return err
		}
	}
	if note := applicationNote(a); note != "" {
		_, err := fmt.Fprintln(t.errOut, note)
		return err
	}
	return nil
}

// Applications prints one row per application, the citizen id masked; the
// overdue count and the next page token go to errOut.
func (t *tablePrinter) Applications(resp *epermitv1.ListApplicationsResponse) error {
	if len(resp.GetApplications()) == 0 {
		if _, err := fmt.Fprintln(t.errOut, "No applications found."); err != nil {
			return err
		}
	} else {
		tb := t.newTable()
		tb.add("ID", "NAME", "CITIZEN ID", "STATE", "CHANNEL", "FROM", "DEADLINE", "OVERDUE", "VERSION")
		for _, a := range resp.GetApplications() {
			deadline, overdue := "-", "-"
			if a.GetDeadline() != nil {
				deadline = a.GetDeadline().AsTime().In(chinaStandardTime).Format("2006-01-02 15:04")
			}
			if a.GetOverdue() {
				overdue = "yes"
			}
			tb.add(a.GetId(), a.GetHolder().GetName(), maskCitizenID(a.GetHolder().GetCitizenId()), enumWord(a.GetState()),
				optionalWord(a.GetChannel()), orDash(a.GetAcceptingDivision()), deadline, overdue, strconv.FormatInt(a.GetVersion(), 10))
		}
		if err := tb.writeTo(t.out); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(t.errOut, "Overdue applications: %d.\n", resp.GetOverdueCount()); err != nil {
		return err
	}
	if tok := resp.GetNextPageToken(); tok != "" {
		_, err := fmt.Fprintf(t.errOut, "More applications: run again with --page-token %s, or use --all.\n", tok)
		return err
	}
	return nil
}

// Application prints {"application": ..., "permit": ...}, the shape of
// ApproveApplicationResponse, and without a permit that of the other
// responses; what to tell the applicant goes to errOut.
func (j *jsonPrinter) Application(a *epermitv1.Application, issued *epermitv1.Permit) error {
	if note := applicationNote(a); note != "" {
		if err := j.note(note); err != nil {
			return err
		}
	}
	return j.print(&epermitv1.ApproveApplicationResponse{Application: a, Permit: issued})
}

// Applications prints the ListApplicationsResponse.
func (j *jsonPrinter) Applications(resp *epermitv1.ListApplicationsResponse) error {
	return j.print(resp)
}

// applicationNote says what to do next with an application in some
// states; empty in the others.
func applicationNote(a *epermitv1.Application) string {
	switch a.GetState() {
	case epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED:
		return "Tell the applicant every missing material at once (一次性告知); record them with " +
			"'permitctl application supplement " + a.GetId() + " --material CODE,...'."
	case epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING:
		return "Taken in on behalf of " + a.GetTargetDivision() + " (异地代收): this node forwards it until " +
			a.GetTargetDivision() + " confirms; 'permitctl application show " + a.GetId() + "' then shows it forwarded."
	}
	return ""
}

// yesNo spells a boolean for people.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
