package catalogue

import (
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
)

// Facts is what the node knows of a request when it decides and routes it.
// Rules see a part of it (docs/scenarios.md); identity values (names,
// citizen ids, permit id, address) reach only a department that declares
// them.
type Facts struct {
	Permit PermitFacts
	Holder Person
	// Child is the child a request is for; required for a service with
	// for_child, ignored otherwise.
	Child *Person
	// Request holds the service's request fields by name.
	Request map[string]string
}

// PermitFacts describes the permit a request is for, as of the day of
// evaluation.
type PermitFacts struct {
	ID string
	// Status in lower case, e.g. "active" or "suspended".
	Status string
	// IssuingDivision is the issuer's 6-digit division code.
	IssuingDivision  string
	ResidenceAddress string
	// ResidenceMonths counts continuous residence across member cities,
	// recognised prior periods included.
	ResidenceMonths int
	// ResidenceMonthsHere counts residence in this city only.
	ResidenceMonthsHere int
	// ResidenceYears counts residence years as the regulations do (afresh
	// after a late endorsement).
	ResidenceYears int
	// IssuedHere is true when this node issued the permit.
	IssuedHere bool
}

// Person is the holder or a child.
type Person struct {
	Name      string
	CitizenID string
	// Sex is "male" or "female".
	Sex string
	// BirthDate is the civil date of birth; only its year, month and day
	// count. Ages are computed from it on the day of evaluation.
	BirthDate time.Time
}

// NewPerson returns the person with that name and citizen id number, the
// sex and birth date taken from the number, after checking the number
// against today (citizenid.Parse).
func NewPerson(name, citizenID string, today time.Time) (Person, error) {
	id, err := citizenid.Parse(citizenID, today)
	if err != nil {
		return Person{}, err
	}
	return Person{Name: name, CitizenID: id.Number, Sex: id.Sex.String(), BirthDate: id.BirthDate}, nil
}

// age returns the whole years and whole months from birth to day, both
// taken as civil dates. A person born on 29 February turns a year older on
// 1 March in other years.
func age(birth, day time.Time) (years, months int64) {
	by, bm, bd := birth.Date()
	y, m, d := day.Date()
	months = int64(y-by)*12 + int64(m-bm)
	if d < bd {
		months--
	}
	if months < 0 {
		return 0, 0
	}
	return months / 12, months
}

// formatDate formats t as YYYY-MM-DD, or "" for the zero time.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(DateLayout)
}
