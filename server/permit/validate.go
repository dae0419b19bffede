package permit

import (
	"github.com/yrd-epermit/epermit/permitid"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/validate"
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
	// issueFields checks the fields of a new permit (IssuePermit, and each
	// row of ImportPermits).
	issueFields = validate.IssueFields
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
