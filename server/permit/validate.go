package permit

import (
	"time"

	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/validate"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Field limits, in characters (runes); the shared ones are validate's.
const (
	maxAddress = validate.MaxAddress
	maxReason  = 200
	maxNote    = 500
)

// The shared field checks (package validate), under the names this
// package's handlers use.
var (
	text      = validate.Text
	requestID = validate.RequestID
	citizenID = validate.CitizenID
	date      = validate.Date
	holder    = validate.Holder
)

// permitID checks and normalises a permit id.
func permitID(v *apierror.Violations, field, s string) string {
	id, _, err := permitid.Parse(s)
	if err != nil {
		reason, detail := "FORMAT", err.Error()
		if e, ok := err.(*permitid.Error); ok {
			reason, detail = e.Reason, e.Detail
		}
		v.Add(field, reason, detail)
	}
	return id
}

// version checks an etag taken from a read.
func version(v *apierror.Violations, n int64) { validate.Version(v, n, "permit") }

// issueFields checks the fields of a new permit as IssuePermit takes them
// (and ImportPermits, row by row) on day: the holder, the residence
// address and the optional residence start date, which must lie between
// the holder's birth and day. It returns them normalised, the start
// defaulting to day.
func issueFields(v *apierror.Violations, h *epermitv1.Holder, addr, startDate string, day time.Time) (*epermitv1.Holder, string, time.Time) {
	out := holder(v, h, day)
	addr = text(v, "residence_address", addr, 1, maxAddress)
	start := day
	if t, ok := date(v, "residence_start_date", startDate); ok {
		switch birth, _ := parseDate(out.GetBirthDate()); {
		case t.After(day):
			v.Add("residence_start_date", "IN_FUTURE", "must not be after today")
		case out.GetBirthDate() != "" && t.Before(birth):
			v.Add("residence_start_date", "BEFORE_BIRTH", "must not be before the holder's birth date")
		default:
			start = t
		}
	}
	return out, addr, start
}
