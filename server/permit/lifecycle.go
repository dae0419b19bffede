package permit

import (
	"time"

	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// China Standard Time: permit dates are calendar dates there (no DST).
var cst = validate.CST

// Rules are the per-city parts of the permit lifecycle.
type Rules struct {
	// EndorsementWindowMonths is how many months before each residence
	// anniversary the endorsement can be made (the regulations: one).
	EndorsementWindowMonths int
	// CardValidityYears limits the card's validity from the issue date; 0
	// means the yearly endorsement alone keeps the permit alive.
	CardValidityYears int
	// CancelReasons lists the cancellation grounds this city recognises;
	// empty allows every reason.
	CancelReasons []epermitv1.CancelReason
}

// DefaultRules are the national rules: a one-month window, no card limit,
// every cancellation ground.
func DefaultRules() Rules { return Rules{EndorsementWindowMonths: 1} }

// today is the calendar date of t in China Standard Time, at midnight;
// formatDate and parseDate write and read "YYYY-MM-DD" dates.
var (
	today      = validate.Today
	formatDate = validate.FormatDate
	parseDate  = validate.ParseDate
)

// mustDate parses a date the node wrote itself; stored dates are always valid.
func mustDate(s string) time.Time {
	t, err := parseDate(s)
	if err != nil {
		panic("permit: stored date " + s + " is malformed: " + err.Error())
	}
	return t
}

// fullYears counts whole years from start to end (0 when end is before start).
func fullYears(start, end time.Time) int {
	n := end.Year() - start.Year()
	if n > 0 && start.AddDate(n, 0, 0).After(end) {
		n--
	}
	return max(n, 0)
}

// fullMonths counts whole months from start to end.
func fullMonths(start, end time.Time) int {
	n := (end.Year()-start.Year())*12 + int(end.Month()-start.Month())
	if n > 0 && start.AddDate(0, n, 0).After(end) {
		n--
	}
	return max(n, 0)
}

// schedule is what the endorsement rule derives from a permit record.
type schedule struct {
	countStart  time.Time // residence years count from here
	nextDue     time.Time // next residence anniversary: endorse before it
	windowOpens time.Time // first day the next endorsement can be made
	validUntil  time.Time // zero when the card has no validity limit
}

// scheduleOf derives the endorsement schedule of a record. Anniversaries are
// counted from the residence start date; the first one due is the first
// after the issue date (or after the last late endorsement, which restarts
// the count), and each on-time endorsement moves it on by one year.
func scheduleOf(p *epermitv1.Permit, r Rules) schedule {
	start := mustDate(p.ResidenceStartDate)
	ref := mustDate(p.IssueDate)
	if ref.Before(start) {
		ref = start
	}
	onTime := 0
	for _, e := range p.Endorsements {
		if !e.Late && !mustDate(e.Date).Before(start) {
			onTime++
		}
	}
	s := schedule{countStart: start}
	s.nextDue = start.AddDate(fullYears(start, ref)+onTime+1, 0, 0)
	s.windowOpens = s.nextDue.AddDate(0, -r.EndorsementWindowMonths, 0)
	if p.ValidUntil != "" {
		s.validUntil = mustDate(p.ValidUntil)
	}
	return s
}

// statusOn computes a permit's status on day d from its recorded state and
// its dates: final states stay; an expired card is EXPIRED; a suspension by
// hand or an overdue endorsement is SUSPENDED.
func statusOn(p *epermitv1.Permit, s schedule, d time.Time) epermitv1.PermitStatus {
	switch {
	case store.IsFinal(p.Status), p.Status == epermitv1.PermitStatus_PERMIT_STATUS_PENDING:
		return p.Status
	case !s.validUntil.IsZero() && d.After(s.validUntil):
		return epermitv1.PermitStatus_PERMIT_STATUS_EXPIRED
	case p.Status == epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED, !d.Before(s.nextDue):
		return epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED
	}
	return epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE
}

// residenceYears counts the full years of continuous residence on day d; the
// count stops at an anniversary that was not endorsed.
func residenceYears(s schedule, d time.Time) int {
	if d.After(s.nextDue) {
		d = s.nextDue
	}
	return fullYears(s.countStart, d)
}

// residenceMonths counts the full months of continuous residence across
// member cities on day d: from the start of the prior periods that run on,
// each without a gap of more than a day, into the residence here. Like
// residenceYears, the count stops at an anniversary that was not endorsed.
func residenceMonths(p *epermitv1.Permit, s schedule, d time.Time) int {
	if d.After(s.nextDue) {
		d = s.nextDue
	}
	start := s.countStart
	for i := len(p.PriorResidence) - 1; i >= 0; i-- {
		r := p.PriorResidence[i]
		begin, err1 := parseDate(r.StartDate)
		end, err2 := parseDate(r.EndDate)
		if err1 != nil || err2 != nil || end.AddDate(0, 0, 1).Before(start) || !begin.Before(start) {
			break
		}
		start = begin
	}
	return fullMonths(start, d)
}

// decorate returns a copy of a stored record with the computed fields filled
// in as of time t.
func decorate(stored *epermitv1.Permit, r Rules, t time.Time) *epermitv1.Permit {
	p := cloneProto(stored)
	s := scheduleOf(p, r)
	d := today(t)
	p.Status = statusOn(stored, s, d)
	p.ResidenceYears = int32(residenceYears(s, d))
	p.ResidenceMonths = int32(residenceMonths(stored, s, d))
	if p.Status == epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
		p.PendingReason = pendingReason(stored)
	}
	if !store.IsFinal(stored.Status) {
		p.NextEndorsementDue = formatDate(s.nextDue)
		p.EndorsementWindowOpens = formatDate(s.windowOpens)
	}
	return p
}

// pendingReason says what a PENDING permit waits for.
func pendingReason(p *epermitv1.Permit) string {
	if p.TransferredFrom != "" && p.DeltaCheckPassed {
		return "waiting for the old issuer to confirm the transfer of " + p.TransferredFrom
	}
	return "waiting for the other member cities to confirm that the citizen holds no other permit"
}
