// Package validate holds the field checks that epermit's services share:
// free text, request ids, versions, citizen id numbers, calendar dates and
// the holder of a permit or application. Each check records what is wrong
// in an apierror.Violations, so that one answer lists every bad field, and
// returns the value normalised.
package validate

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/server/apierror"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Field limits, in characters (runes).
const (
	MaxName      = 64
	MaxEthnicity = 16
	MaxAddress   = 200
	MaxRequestID = 64
)

// CST is China Standard Time: permit and application dates are calendar
// dates there (no DST).
var CST = time.FixedZone("CST", 8*60*60)

// DateLayout is how dates are written: "YYYY-MM-DD".
const DateLayout = "2006-01-02"

// Today is the calendar date of t in China Standard Time, at midnight.
func Today(t time.Time) time.Time {
	y, m, d := t.In(CST).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, CST)
}

// FormatDate writes t's date as "YYYY-MM-DD".
func FormatDate(t time.Time) string { return t.Format(DateLayout) }

// ParseDate parses a "YYYY-MM-DD" date in China Standard Time.
func ParseDate(s string) (time.Time, error) { return time.ParseInLocation(DateLayout, s, CST) }

// Text checks a free-text field: valid UTF-8, no control characters, no
// surrounding spaces, between min and max characters. It returns the value.
func Text(v *apierror.Violations, field, s string, min, max int) string {
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

// RequestID checks an idempotency key.
func RequestID(v *apierror.Violations, s string) {
	const field = "request_id"
	switch {
	case s == "":
		v.Add(field, "REQUIRED", "is required: a client-chosen id that makes retries safe")
	case len(s) > MaxRequestID:
		v.Add(field, "TOO_LONG", fmt.Sprintf("must be at most %d characters", MaxRequestID))
	case strings.IndexFunc(s, func(r rune) bool {
		return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._:-", r)))
	}) >= 0:
		v.Add(field, "FORMAT", "may hold only letters, digits and . _ : -")
	}
}

// Version checks an etag taken from a read of a resource (e.g. "permit").
func Version(v *apierror.Violations, n int64, resource string) {
	if n <= 0 {
		v.Add("version", "REQUIRED", "is required: the version of the "+resource+" as last read")
	}
}

// CitizenID checks a citizen id number against day d.
func CitizenID(v *apierror.Violations, field, s string, d time.Time) citizenid.ID {
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

// Date checks an optional "YYYY-MM-DD" field; ok is false when it is empty
// or malformed.
func Date(v *apierror.Violations, field, s string) (t time.Time, ok bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := ParseDate(s)
	if err != nil {
		v.Add(field, "DATE_FORMAT", "must be a calendar date written YYYY-MM-DD")
		return time.Time{}, false
	}
	return t, true
}

// SexOf is the sex encoded in a citizen id.
func SexOf(id citizenid.ID) epermitv1.Sex {
	if id.Sex == citizenid.Female {
		return epermitv1.Sex_SEX_FEMALE
	}
	return epermitv1.Sex_SEX_MALE
}

// Holder checks the holder of a permit (or the applicant for one) on day d
// and returns it normalised, with sex and birth date derived from the
// citizen id. Its violations name fields under "holder.".
func Holder(v *apierror.Violations, h *epermitv1.Holder, d time.Time) *epermitv1.Holder {
	if h == nil {
		v.Add("holder", "REQUIRED", "is required")
		return nil
	}
	out := &epermitv1.Holder{
		Name:         Text(v, "holder.name", h.Name, 1, MaxName),
		Ethnicity:    Text(v, "holder.ethnicity", h.Ethnicity, 1, MaxEthnicity),
		HukouAddress: Text(v, "holder.hukou_address", h.HukouAddress, 1, MaxAddress),
	}
	id := CitizenID(v, "holder.citizen_id", h.CitizenId, d)
	if id.Number == "" {
		return out
	}
	out.CitizenId = id.Number
	out.BirthDate = id.BirthDateString()
	out.Sex = SexOf(id)
	if h.Sex != epermitv1.Sex_SEX_UNSPECIFIED && h.Sex != out.Sex {
		v.Add("holder.sex", "CONTRADICTS_CITIZEN_ID", "disagrees with the sex encoded in the citizen id; leave it empty")
	}
	if h.BirthDate != "" && h.BirthDate != out.BirthDate {
		v.Add("holder.birth_date", "CONTRADICTS_CITIZEN_ID",
			fmt.Sprintf("disagrees with the birth date %s encoded in the citizen id; leave it empty", out.BirthDate))
	}
	return out
}

// Fingerprint identifies a request by its type and content, so that a
// request id reused for a different request can be told from a retry. The
// version a change names is left out: it is a precondition of the change,
// not part of it, and a client that retries after an unknown outcome may
// have read the version the first attempt produced.
func Fingerprint(req proto.Message) []byte {
	if f := req.ProtoReflect().Descriptor().Fields().ByName("version"); f != nil {
		req = proto.Clone(req)
		req.ProtoReflect().Clear(f)
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	h := sha256.New()
	h.Write([]byte(req.ProtoReflect().Descriptor().FullName()))
	h.Write([]byte{0})
	h.Write(b)
	return h.Sum(nil)
}

// Page sizes of List calls: the default for 0, and the most one page may
// hold.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// PageSize checks a List request's page_size and returns the size to use:
// DefaultPageSize for 0.
func PageSize(v *apierror.Violations, n int32) int {
	switch {
	case n < 0 || n > MaxPageSize:
		v.Add("page_size", "OUT_OF_RANGE", fmt.Sprintf("must be between 1 and %d (0 for %d)", MaxPageSize, DefaultPageSize))
		return 0
	case n == 0:
		return DefaultPageSize
	}
	return int(n)
}
