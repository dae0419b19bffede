package permit

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/apierror"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Field limits, in characters (runes).
const (
	maxName      = 64
	maxEthnicity = 16
	maxAddress   = 200
	maxReason    = 200
	maxNote      = 500
	maxRequestID = 64
	maxPageSize  = 500
	defaultPage  = 50
	maxPageToken = 256
)

// text checks a free-text field: valid UTF-8, no control characters, no
// surrounding spaces, between min and max characters. It returns the value.
func text(v *apierror.Violations, field, s string, min, max int) string {
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		v.Add(field, "ENCODING", "must be valid UTF-8")
	case n == 0 && min > 0:
		v.Add(field, "REQUIRED", "is required")
	case n < min:
		v.Add(field, "TOO_SHORT", fmt.Sprintf("must be at least %d characters", min))
	case n > max:
		v.Add(field, "TOO_LONG", fmt.Sprintf("must be at most %d characters, got %d", max, n))
	case strings.TrimSpace(s) != s:
		v.Add(field, "SURROUNDING_SPACE", "must not start or end with spaces")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		v.Add(field, "CONTROL_CHARACTER", "must not contain control characters")
	}
	return s
}

// requestID checks an idempotency key.
func requestID(v *apierror.Violations, s string) {
	const field = "request_id"
	switch {
	case s == "":
		v.Add(field, "REQUIRED", "is required: a client-chosen id that makes retries safe")
	case len(s) > maxRequestID:
		v.Add(field, "TOO_LONG", fmt.Sprintf("must be at most %d characters", maxRequestID))
	case strings.IndexFunc(s, func(r rune) bool {
		return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._:-", r)))
	}) >= 0:
		v.Add(field, "FORMAT", "may hold only letters, digits and . _ : -")
	}
}

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
func version(v *apierror.Violations, n int64) {
	if n <= 0 {
		v.Add("version", "REQUIRED", "is required: the version of the permit as last read")
	}
}

// citizenID checks a citizen id number against day d.
func citizenID(v *apierror.Violations, field, s string, d time.Time) citizenid.ID {
	id, err := citizenid.Parse(s, d)
	if err != nil {
		reason, detail := "FORMAT", err.Error()
		if e, ok := err.(*citizenid.Error); ok {
			reason, detail = e.Reason, e.Detail
		}
		v.Add(field, reason, detail)
	}
	return id
}

// date checks an optional "YYYY-MM-DD" field.
func date(v *apierror.Violations, field, s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := parseDate(s)
	if err != nil {
		v.Add(field, "DATE_FORMAT", "must be a calendar date written YYYY-MM-DD")
		return time.Time{}, false
	}
	return t, true
}

// holder checks the holder of a permit to be issued on day d and returns it
// normalised, with sex and birth date derived from the citizen id.
func holder(v *apierror.Violations, h *epermitv1.Holder, d time.Time) *epermitv1.Holder {
	if h == nil {
		v.Add("holder", "REQUIRED", "is required")
		return nil
	}
	out := &epermitv1.Holder{
		Name:         text(v, "holder.name", h.Name, 1, maxName),
		Ethnicity:    text(v, "holder.ethnicity", h.Ethnicity, 1, maxEthnicity),
		HukouAddress: text(v, "holder.hukou_address", h.HukouAddress, 1, maxAddress),
	}
	id := citizenID(v, "holder.citizen_id", h.CitizenId, d)
	if id.Number == "" {
		return out
	}
	out.CitizenId = id.Number
	out.BirthDate = id.BirthDateString()
	out.Sex = epermitv1.Sex_SEX_MALE
	if id.Sex == citizenid.Female {
		out.Sex = epermitv1.Sex_SEX_FEMALE
	}
	if h.Sex != epermitv1.Sex_SEX_UNSPECIFIED && h.Sex != out.Sex {
		v.Add("holder.sex", "CONTRADICTS_CITIZEN_ID", "disagrees with the sex encoded in the citizen id; leave it empty")
	}
	if h.BirthDate != "" && h.BirthDate != out.BirthDate {
		v.Add("holder.birth_date", "CONTRADICTS_CITIZEN_ID",
			fmt.Sprintf("disagrees with the birth date %s encoded in the citizen id; leave it empty", out.BirthDate))
	}
	return out
}
