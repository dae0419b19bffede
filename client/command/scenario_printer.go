package command

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// scenarioPrinter prints the results of the scenarios, eligibility and
// request commands. Both printers implement it beside printer.
type scenarioPrinter interface {
	// Scenarios prints the catalogue: the scenarios with their services
	// and rules, and the departments.
	Scenarios(resp *epermitv1.ListScenariosResponse) error
	// Eligibility prints the outcome of a dry run of service's rule.
	Eligibility(service string, resp *epermitv1.CheckEligibilityResponse) error
	// ServiceRequest prints one service request with its history.
	ServiceRequest(r *epermitv1.ServiceRequest) error
	// ServiceRequests prints a listing of service requests.
	ServiceRequests(resp *epermitv1.ListServiceRequestsResponse) error
	// ServiceRequestChange prints one change streamed by request watch on
	// a line of its own.
	ServiceRequestChange(c *epermitv1.WatchServiceRequestsResponse) error
	// WatchNote writes a note of request watch for people to standard
	// error.
	WatchNote(note string) error
}

// Ensure both printers are scenario printers.
var (
	_ scenarioPrinter = (*tablePrinter)(nil)
	_ scenarioPrinter = (*jsonPrinter)(nil)
)

// watchColumns are the least widths of the columns of request watch's
// lines, so that the lines, printed one at a time, line up: time, state,
// request id, service, permit and actor; the reason comes last.
var watchColumns = []int{23, 9, 21, 23, 20, 10}

// Scenarios prints each scenario as a heading followed by its services,
// each with its department, whether it is for a child, its fields and its
// rule in words; then the departments.
func (t *tablePrinter) Scenarios(resp *epermitv1.ListScenariosResponse) error {
	departments := map[string]*epermitv1.Department{}
	for _, d := range resp.GetDepartments() {
		departments[d.GetCode()] = d
	}
	if len(resp.GetScenarios()) == 0 {
		if _, err := fmt.Fprintln(t.errOut, "The catalogue has no scenarios."); err != nil {
			return err
		}
	}
	for i, sc := range resp.GetScenarios() {
		if i > 0 {
			if _, err := fmt.Fprintln(t.out); err != nil {
				return err
			}
		}
		if err := t.line(sc.GetNameZh() + " " + sc.GetNameEn() + " (" + sc.GetCode() + ")"); err != nil {
			return err
		}
		for _, svc := range sc.GetServices() {
			if err := t.line("", svc.GetCode(), svc.GetNameZh()+" / "+svc.GetNameEn()); err != nil {
				return err
			}
			tb := t.newTable()
			dept := svc.GetDepartment()
			if d, ok := departments[dept]; ok {
				dept += "  " + d.GetNameZh() + " / " + d.GetNameEn()
			}
			tb.add("", "", "Department", orDash(dept))
			tb.add("", "", "For a child", yesNo(svc.GetForChild()))
			tb.add("", "", "Request fields", orNone(strings.Join(svc.GetRequestFields(), ", ")))
			tb.add("", "", "Department receives", orNone(strings.Join(svc.GetDepartmentFields(), ", ")))
			tb.add("", "", "Rule", ruleWords(svc.GetRule()))
			if len(svc.GetRule().GetConditions()) == 0 {
				tb.add("", "", "Conditions", "none")
			}
			for i, c := range svc.GetRule().GetConditions() {
				label := ""
				if i == 0 {
					label = "Conditions"
				}
				tb.add("", "", label, orDash(c.GetDescription()))
			}
			if err := tb.writeTo(t.out); err != nil {
				return err
			}
		}
	}
	if len(resp.GetDepartments()) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(t.out, "\nDepartments"); err != nil {
		return err
	}
	tb := t.newTable()
	tb.add("", "CODE", "NAME", "ENGLISH NAME")
	for _, d := range resp.GetDepartments() {
		tb.add("", d.GetCode(), orDash(d.GetNameZh()), orDash(d.GetNameEn()))
	}
	return tb.writeTo(t.out)
}

// line writes cells as a table of one row.
func (t *tablePrinter) line(cells ...string) error {
	tb := t.newTable()
	tb.add(cells...)
	return tb.writeTo(t.out)
}

// ruleWords spells a rule's version and the day it took effect.
func ruleWords(r *epermitv1.Rule) string {
	if r == nil {
		return "none"
	}
	s := orDash(r.GetVersion())
	if from := r.GetEffectiveFrom(); from != "" {
		s += ", in force from " + from
	}
	return s
}

// Eligibility prints ELIGIBLE or NOT ELIGIBLE, the service and rule
// version, then each condition marked ✓ (holds) or ✗ (does not) with its
// detail.
func (t *tablePrinter) Eligibility(service string, resp *epermitv1.CheckEligibilityResponse) error {
	verdict := "NOT ELIGIBLE"
	if resp.GetEligible() {
		verdict = "ELIGIBLE"
	}
	if _, err := fmt.Fprintln(t.out, verdict); err != nil {
		return err
	}
	tb := t.newTable()
	tb.add("Service", orDash(service))
	tb.add("Rule version", orDash(resp.GetRuleVersion()))
	if err := tb.writeTo(t.out); err != nil {
		return err
	}
	if len(resp.GetConditions()) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(t.out); err != nil {
		return err
	}
	return t.conditions(resp.GetConditions()).writeTo(t.out)
}

// conditions returns a table of conditions with their outcomes: a mark and
// the description, and the detail.
func (t *tablePrinter) conditions(cs []*epermitv1.Condition) *table {
	tb := t.newTable()
	for _, c := range cs {
		tb.add(conditionMark(c)+" "+orDash(c.GetDescription()), c.GetDetail())
	}
	return tb
}

// conditionMark is ✓ for a condition that holds and ✗ for one that does
// not.
func conditionMark(c *epermitv1.Condition) string {
	if c.GetPassed() {
		return "✓"
	}
	return "✗"
}

// ServiceRequest prints a vertical list of the request's fields, then its
// history as a table; what to do next goes to errOut.
func (t *tablePrinter) ServiceRequest(r *epermitv1.ServiceRequest) error {
	tb := t.newTable()
	tb.add("ID", r.GetId())
	tb.add("State", optionalWord(r.GetState()))
	tb.add("Reason", orDash(r.GetReason()))
	tb.add("Service", orDash(r.GetService()))
	tb.add("Scenario", orDash(r.GetScenario()))
	tb.add("Department", orDash(r.GetDepartment()))
	tb.add("Permit", orDash(r.GetPermitId()))
	tb.add("Issuing division", orDash(r.GetIssuingDivision()))
	tb.add("Name", orDash(r.GetHolder().GetName()))
	tb.add("Citizen ID", orDash(r.GetHolder().GetCitizenId()))
	if ch := r.GetChild(); ch != nil {
		tb.add("Child", orDash(ch.GetName()))
		tb.add("Child citizen ID", orDash(ch.GetCitizenId()))
		tb.add("Child birth date", orDash(ch.GetBirthDate()))
	}
	fields := r.GetFields()
	keys := slices.Sorted(maps.Keys(fields))
	if len(keys) == 0 {
		tb.add("Fields", "none")
	}
	for i, k := range keys {
		label := ""
		if i == 0 {
			label = "Fields"
		}
		tb.add(label, k+"="+fields[k])
	}
	tb.add("Rule version", orDash(r.GetRuleVersion()))
	for i, c := range r.GetConditions() {
		label := ""
		if i == 0 {
			label = "Conditions"
		}
		cell := conditionMark(c) + " " + orDash(c.GetDescription())
		if d := c.GetDetail(); d != "" {
			cell += " (" + d + ")"
		}
		tb.add(label, cell)
	}
	tb.add("Attempts", strconv.Itoa(int(r.GetAttempts())))
	if r.GetNextAttemptTime() != nil {
		tb.add("Next attempt", formatTime(r.GetNextAttemptTime()))
	}
	tb.add("Department reference", orDash(r.GetDepartmentReference()))
	tb.add("Submitted by", orDash(r.GetSubmittedBy()))
	tb.add("Version", strconv.FormatInt(r.GetVersion(), 10))
	tb.add("Created", orDash(formatTime(r.GetCreateTime())))
	tb.add("Updated", orDash(formatTime(r.GetUpdateTime())))
	if err := tb.writeTo(t.out); err != nil {
		return err
	}
	if len(r.GetHistory()) > 0 {
		if _, err := fmt.Fprintln(t.out, "\nHistory"); err != nil {
			return err
		}
		h := t.newTable()
		h.add("TIME", "STATE", "BY", "REASON")
		for _, c := range r.GetHistory() {
			h.add(orDash(formatTime(c.GetTime())), optionalWord(c.GetState()), orDash(c.GetActor()), orDash(c.GetReason()))
		}
		if err := h.writeTo(t.out); err != nil {
			return err
		}
	}
	if note := serviceRequestNote(r); note != "" {
		_, err := fmt.Fprintln(t.errOut, note)
		return err
	}
	return nil
}

// ServiceRequests prints one row per request, with the holder's name; the
// next page token goes to errOut.
func (t *tablePrinter) ServiceRequests(resp *epermitv1.ListServiceRequestsResponse) error {
	if len(resp.GetRequests()) == 0 {
		if _, err := fmt.Fprintln(t.errOut, "No service requests found."); err != nil {
			return err
		}
	} else {
		tb := t.newTable()
		tb.add("ID", "SERVICE", "DEPARTMENT", "PERMIT", "NAME", "STATE", "ATTEMPTS", "UPDATED")
		for _, r := range resp.GetRequests() {
			tb.add(r.GetId(), orDash(r.GetService()), orDash(r.GetDepartment()), orDash(r.GetPermitId()),
				orDash(r.GetHolder().GetName()), optionalWord(r.GetState()), strconv.Itoa(int(r.GetAttempts())),
				orDash(formatTime(r.GetUpdateTime())))
		}
		if err := tb.writeTo(t.out); err != nil {
			return err
		}
	}
	if tok := resp.GetNextPageToken(); tok != "" {
		_, err := fmt.Fprintf(t.errOut, "More service requests: run again with --page-token %s, or use --all.\n", tok)
		return err
	}
	return nil
}

// ServiceRequestChange prints the change on one line, the columns padded
// to fixed widths so that successive lines line up; a header line comes
// before the first.
func (t *tablePrinter) ServiceRequestChange(c *epermitv1.WatchServiceRequestsResponse) error {
	tb := &table{width: t.width, minWidths: watchColumns}
	if !t.watchHeader {
		tb.add("TIME", "STATE", "REQUEST", "SERVICE", "PERMIT", "BY", "REASON")
		t.watchHeader = true
	}
	ch, r := c.GetChange(), c.GetRequest()
	tb.add(orDash(formatTime(ch.GetTime())), optionalWord(ch.GetState()), orDash(r.GetId()), orDash(r.GetService()),
		orDash(r.GetPermitId()), orDash(ch.GetActor()), orDash(ch.GetReason()))
	return tb.writeTo(t.out)
}

// WatchNote writes note to errOut.
func (t *tablePrinter) WatchNote(note string) error {
	_, err := fmt.Fprintln(t.errOut, note)
	return err
}

// Scenarios prints the ListScenariosResponse.
func (j *jsonPrinter) Scenarios(resp *epermitv1.ListScenariosResponse) error {
	return j.print(resp)
}

// Eligibility prints the CheckEligibilityResponse.
func (j *jsonPrinter) Eligibility(_ string, resp *epermitv1.CheckEligibilityResponse) error {
	return j.print(resp)
}

// ServiceRequest prints {"request": ...}, the shape of the responses of
// SubmitServiceRequest, GetServiceRequest, CancelServiceRequest and
// RetryServiceRequest; what to do next goes to errOut.
func (j *jsonPrinter) ServiceRequest(r *epermitv1.ServiceRequest) error {
	if note := serviceRequestNote(r); note != "" {
		if err := j.note(note); err != nil {
			return err
		}
	}
	return j.print(&epermitv1.GetServiceRequestResponse{Request: r})
}

// ServiceRequests prints the ListServiceRequestsResponse.
func (j *jsonPrinter) ServiceRequests(resp *epermitv1.ListServiceRequestsResponse) error {
	return j.print(resp)
}

// ServiceRequestChange prints the WatchServiceRequestsResponse as one JSON
// object on one line (JSON Lines), resume_token included.
func (j *jsonPrinter) ServiceRequestChange(c *epermitv1.WatchServiceRequestsResponse) error {
	return j.printLine(c)
}

// WatchNote writes note to errOut.
func (j *jsonPrinter) WatchNote(note string) error {
	return j.note(note)
}

// serviceRequestNote says what can be done next with a request in some
// states; empty in the others.
func serviceRequestNote(r *epermitv1.ServiceRequest) string {
	switch r.GetState() {
	case epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED:
		attempts := strconv.Itoa(int(r.GetAttempts())) + " attempts"
		if r.GetAttempts() == 1 {
			attempts = "1 attempt"
		}
		return "Delivery to " + orDash(r.GetDepartment()) + " failed after " + attempts +
			"; 'permitctl request retry " + r.GetId() + "' puts the request back in the outbox."
	case epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED:
		return "Waiting in the outbox for delivery to " + orDash(r.GetDepartment()) +
			"; 'permitctl request watch --permit " + r.GetPermitId() + "' follows it."
	}
	return ""
}
