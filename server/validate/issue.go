package validate

import (
	"time"

	"github.com/yrd-epermit/epermit/server/apierror"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// IssueFields checks the fields of a new permit on day d, as IssuePermit
// takes them (and ImportPermits row by row, and permitctl import before
// sending): the holder, the residence address and the optional residence
// start date ("YYYY-MM-DD", between the holder's birth and d). It returns
// them normalised, the start defaulting to d.
func IssueFields(v *apierror.Violations, h *epermitv1.Holder, addr, startDate string, d time.Time) (*epermitv1.Holder, string, time.Time) {
	out := Holder(v, h, d)
	addr = Text(v, "residence_address", addr, 1, MaxAddress)
	start := d
	if t, ok := Date(v, "residence_start_date", startDate); ok {
		switch birth, _ := ParseDate(out.GetBirthDate()); {
		case t.After(d):
			v.Add("residence_start_date", "IN_FUTURE", "must not be after today")
		case out.GetBirthDate() != "" && t.Before(birth):
			v.Add("residence_start_date", "BEFORE_BIRTH", "must not be before the holder's birth date")
		default:
			start = t
		}
	}
	return out, addr, start
}
