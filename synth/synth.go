package synth

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/division"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Ages of holders on the reference day, and of dependent children.
const (
	minHolderAge = 18
	maxHolderAge = 59
	adultAge     = 18
)

// Sequence codes (positions 15-17 of a citizen id number) are 2*q+s for s
// the sex bit: holders use q below holderQ, children the q above.
const (
	holderQ     = 125
	maxChildren = 2
)

// firstIssue is the earliest issue date drawn: the Interim Regulations on
// Residence Permits took effect on 2016-01-01.
var firstIssue = time.Date(2016, time.January, 1, 0, 0, 0, 0, time.UTC)

// Options configures a Generator.
type Options struct {
	// Seed selects the sequence of residents.
	Seed uint64
	// Today is the reference day: holders are 18 to 59 years old on it,
	// children under 18, and issue dates are on or before it. The zero
	// value means the current day; give a fixed day for output that does
	// not change from one day to the next.
	Today time.Time
	// Division is the code of the county-level division the residents live
	// in (their permits' issuing division): residence addresses lie in it
	// and household registrations elsewhere in the Delta.
	Division string
}

// Person is a holder or a child: a name and a citizen id number, with the
// sex and birth date the number encodes.
type Person struct {
	Name      string
	CitizenID string
	Sex       citizenid.Sex
	BirthDate time.Time // midnight UTC of the birth day
}

// Resident is a synthetic permit holder.
type Resident struct {
	Person
	// Ethnicity is the ethnic group as an identity card writes it, e.g. 汉.
	Ethnicity string
	// Hukou is the county-level division of the household registration;
	// the citizen id's address code is its code.
	Hukou division.Division
	// HukouAddress and ResidenceAddress are full addresses, province first.
	HukouAddress     string
	ResidenceAddress string
	// IssueDate is when the holder's permit was issued, between 2016-01-01
	// (or the holder's sixteenth birthday) and the reference day;
	// ResidenceStart is 6 to 36 months before it.
	IssueDate      time.Time
	ResidenceStart time.Time
	// Children are the holder's children under 18, none to two.
	Children []Person
}

// Generator makes residents; it is safe for concurrent use.
type Generator struct {
	seed       uint64
	today      time.Time
	home       division.Division
	hukou      []division.Division
	firstBirth time.Time // of holders
	days       uint64    // holder birth dates, from firstBirth
	perm       permutation
}

// New returns a Generator. It fails when o.Division is not a county-level
// division of the shipped table.
func New(o Options) (*Generator, error) {
	home, ok := division.Lookup(o.Division)
	if !ok || !home.CanIssue() {
		return nil, fmt.Errorf("synth: %q is not a county-level division of the Delta", o.Division)
	}
	if o.Today.IsZero() {
		o.Today = time.Now()
	}
	y, m, d := o.Today.Date()
	g := &Generator{seed: o.Seed, today: time.Date(y, m, d, 0, 0, 0, 0, time.UTC), home: home}
	for _, d := range division.All() {
		if d.Level == division.County && d.Code != home.Code {
			g.hukou = append(g.hukou, d)
		}
	}
	g.firstBirth = g.today.AddDate(-maxHolderAge-1, 0, 1)
	g.days = uint64(g.today.AddDate(-minHolderAge, 0, 0).Sub(g.firstBirth)/(24*time.Hour)) + 1
	g.perm = newPermutation(uint64(len(g.hukou))*g.days*holderQ*2, o.Seed)
	return g, nil
}

// Capacity is how many distinct residents the Generator makes: indexes
// from 0 to Capacity()-1 give residents whose citizen id numbers, and their
// children's, are all different (about 190 million for a Shangyu node).
func (g *Generator) Capacity() uint64 { return g.perm.n }

// Resident returns the i-th resident. It panics if i is not below
// Capacity().
func (g *Generator) Resident(i uint64) Resident {
	if i >= g.perm.n {
		panic(fmt.Sprintf("synth: resident %d beyond the capacity %d", i, g.perm.n))
	}
	x := g.perm.at(i)
	sexBit := x % 2
	x /= 2
	q := x % holderQ
	x /= holderQ
	day := x % g.days
	c := x / g.days

	rng := rand.New(rand.NewPCG(g.seed, i))
	hukou := g.hukou[c]
	birth := g.firstBirth.AddDate(0, 0, int(day))
	surname := surnames.draw(rng)
	r := Resident{
		Person:           g.person(rng, surname, hukou.Code, birth, 2*q+sexBit),
		Ethnicity:        ethnicities.draw(rng),
		Hukou:            hukou,
		HukouAddress:     hukouAddress(rng, hukou),
		ResidenceAddress: residenceAddress(rng, g.home),
	}
	first := birth.AddDate(16, 0, 0)
	if first.Before(firstIssue) {
		first = firstIssue
	}
	r.IssueDate = first.AddDate(0, 0, rng.IntN(int(g.today.Sub(first)/(24*time.Hour))+1))
	r.ResidenceStart = r.IssueDate.AddDate(0, -6-rng.IntN(31), 0)

	// Child k is born a fixed gap after the parent and numbered by the
	// parent's address code, sequence and sex bit: the gap and the child's
	// sex bit depend on those and k only, so two children share a number
	// only if they share the parent. Children who would be adults or not
	// yet born are left out.
	family := mix(g.seed ^ c<<32 ^ q<<8 ^ sexBit)
	children := rng.IntN(maxChildren + 1)
	for k := range uint64(children) {
		gap := 20*365 + int(mix(family+k)%(20*365))
		cb := birth.AddDate(0, 0, gap)
		if cb.After(g.today) || !cb.After(g.today.AddDate(-adultAge, 0, 0)) {
			continue
		}
		seq := 2*(holderQ+2*q+sexBit) + (family>>63 ^ k)
		r.Children = append(r.Children, g.person(rng, surname, hukou.Code, cb, seq))
	}
	return r
}

// person makes a person with the given surname, address code, birth date
// and sequence code (0-999; odd for males).
func (g *Generator) person(rng *rand.Rand, surname, code string, birth time.Time, seq uint64) Person {
	sex := citizenid.Female
	if seq%2 == 1 {
		sex = citizenid.Male
	}
	var b [citizenid.Length]byte
	copy(b[:6], code)
	birth.AppendFormat(b[6:6:14], "20060102")
	b[14], b[15], b[16] = byte('0'+seq/100), byte('0'+seq/10%10), byte('0'+seq%10)
	check, err := citizenid.CheckChar(string(b[:17]))
	if err != nil {
		panic("synth: " + err.Error()) // the digits above are always 17 digits
	}
	b[17] = check
	return Person{Name: surname + givenName(rng, sex), CitizenID: string(b[:]), Sex: sex, BirthDate: birth}
}

// IssueRequest is the IssuePermit request for r's permit, with the given
// request id.
func (r Resident) IssueRequest(requestID string) *epermitv1.IssuePermitRequest {
	return &epermitv1.IssuePermitRequest{
		RequestId: requestID,
		Holder: &epermitv1.Holder{Name: r.Name, CitizenId: r.CitizenID, Ethnicity: r.Ethnicity,
			HukouAddress: r.HukouAddress},
		ResidenceAddress:   r.ResidenceAddress,
		ResidenceStartDate: r.ResidenceStart.Format(time.DateOnly),
	}
}

// Child is p as the child of a service request.
func (p Person) Child() *epermitv1.Child {
	return &epermitv1.Child{Name: p.Name, CitizenId: p.CitizenID}
}
