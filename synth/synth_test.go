package synth

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/division"
	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/validate"
)

var today = time.Date(2026, time.March, 15, 0, 0, 0, 0, time.UTC)

func newGen(t testing.TB, seed uint64) *Generator {
	t.Helper()
	g, err := New(Options{Seed: seed, Today: today, Division: "330604"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestPermutation: the permutation maps [0, n) onto itself, one to one,
// for small and awkward sizes and several keys.
func TestPermutation(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7, 64, 1000, 4097} {
		for key := range uint64(3) {
			p := newPermutation(n, key)
			seen := make([]bool, n)
			for x := range n {
				y := p.at(x)
				if y >= n || seen[y] {
					t.Fatalf("n=%d key=%d: %d maps to %d, out of range or taken", n, key, x, y)
				}
				seen[y] = true
			}
		}
	}
}

// TestResidentsAreValid: every holder and child has a citizen id number
// that the server accepts, agreeing with the sex and birth date given; the
// ages, dates and addresses are within what the package promises; and the
// issue request passes the server's holder checks.
func TestResidentsAreValid(t *testing.T) {
	g := newGen(t, 1)
	home, _ := division.Lookup("330604")
	years := map[int]bool{}
	var children, sexes [3]int
	for i := range uint64(5000) {
		r := g.Resident(i)
		checkPerson(t, r.Person, today.AddDate(-60, 0, 1), today.AddDate(-18, 0, 0))
		sexes[r.Sex]++
		if r.CitizenID[:6] != r.Hukou.Code || r.Hukou.Code == home.Code || r.Hukou.Level != division.County {
			t.Fatalf("resident %d: id %s, hukou %v", i, r.CitizenID, r.Hukou)
		}
		if !strings.HasPrefix(r.HukouAddress, r.Hukou.FullName()) || !strings.HasPrefix(r.ResidenceAddress, home.FullName()) {
			t.Fatalf("resident %d: addresses %q, %q", i, r.HukouAddress, r.ResidenceAddress)
		}
		if r.IssueDate.Before(firstIssue) || r.IssueDate.After(today) || r.IssueDate.Before(r.BirthDate.AddDate(16, 0, 0)) {
			t.Fatalf("resident %d born %v: issue date %v", i, r.BirthDate, r.IssueDate)
		}
		if r.ResidenceStart.After(r.IssueDate.AddDate(0, -6, 0)) || r.ResidenceStart.Before(r.IssueDate.AddDate(0, -37, 0)) {
			t.Fatalf("resident %d: residence from %v, issued %v", i, r.ResidenceStart, r.IssueDate)
		}
		years[r.IssueDate.Year()] = true
		children[len(r.Children)]++
		surname := string([]rune(r.Name)[0]) // the first character of compound surnames too
		for _, c := range r.Children {
			checkPerson(t, c, today.AddDate(-18, 0, 1), today)
			if c.CitizenID[:6] != r.Hukou.Code || !strings.HasPrefix(c.Name, surname) {
				t.Fatalf("resident %d (%s %s): child %s %s", i, r.Name, r.CitizenID, c.Name, c.CitizenID)
			}
			if age := c.BirthDate.Year() - r.BirthDate.Year(); age < 19 || age > 41 {
				t.Fatalf("resident %d born %v: child born %v", i, r.BirthDate, c.BirthDate)
			}
		}
		var v apierror.Violations
		validate.Holder(&v, r.IssueRequest("x").Holder, today)
		validate.Text(&v, "residence_address", r.ResidenceAddress, 1, validate.MaxAddress)
		if !v.Empty() {
			t.Fatalf("resident %d: %v", i, v.Err("invalid"))
		}
	}
	if len(years) < 10 {
		t.Errorf("issue dates fall in %d years, want a spread over 2016-2026", len(years))
	}
	if children[0] == 0 || children[1] == 0 || children[2] == 0 {
		t.Errorf("families with 0, 1, 2 children: %v; want some of each", children)
	}
	if sexes[citizenid.Male] < 2000 || sexes[citizenid.Female] < 2000 {
		t.Errorf("sexes %v, want both about half", sexes)
	}
}

// checkPerson checks p's name and citizen id, and that p was born in
// [from, to].
func checkPerson(t *testing.T, p Person, from, to time.Time) {
	t.Helper()
	id, err := citizenid.Parse(p.CitizenID, today)
	if err != nil {
		t.Fatalf("%s: %v", p.CitizenID, err)
	}
	if id.Sex != p.Sex || !id.BirthDate.Equal(p.BirthDate) || p.BirthDate.Before(from) || p.BirthDate.After(to) {
		t.Fatalf("%s: sex %v, born %v; person says %v, %v; want born in [%v, %v]", p.CitizenID, id.Sex, id.BirthDate,
			p.Sex, p.BirthDate, from, to)
	}
	if n := utf8.RuneCountInString(p.Name); n < 2 || n > 4 {
		t.Fatalf("name %q has %d characters", p.Name, n)
	}
	for _, r := range p.Name {
		if !unicode.Is(unicode.Han, r) {
			t.Fatalf("name %q: %q is not a Chinese character", p.Name, r)
		}
	}
}

// TestUnique: no two of 300,000 residents and their children share a
// citizen id number.
func TestUnique(t *testing.T) {
	n := uint64(300_000)
	if testing.Short() {
		n = 30_000
	}
	g := newGen(t, 7)
	seen := make(map[string]uint64, 2*n)
	add := func(id string, i uint64) {
		if j, dup := seen[id]; dup {
			t.Fatalf("%s made for residents %d and %d", id, j, i)
		}
		seen[id] = i
	}
	for i := range n {
		r := g.Resident(i)
		add(r.CitizenID, i)
		for _, c := range r.Children {
			add(c.CitizenID, i)
		}
	}
}

// TestDeterministic: the same options give the same residents, another seed
// others.
func TestDeterministic(t *testing.T) {
	a, b, c := newGen(t, 3), newGen(t, 3), newGen(t, 4)
	same := 0
	for i := range uint64(100) {
		ra, rb, rc := a.Resident(i), b.Resident(i), c.Resident(i)
		if ra.CitizenID != rb.CitizenID || ra.Name != rb.Name || ra.ResidenceAddress != rb.ResidenceAddress ||
			len(ra.Children) != len(rb.Children) {
			t.Fatalf("resident %d differs between two generators of one seed: %+v, %+v", i, ra, rb)
		}
		if ra.CitizenID == rc.CitizenID {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of 100 residents have the same id under seeds 3 and 4", same)
	}
}

// TestNewRefusesDivision: residents live in a county-level division of the
// table.
func TestNewRefusesDivision(t *testing.T) {
	for _, code := range []string{"", "999999", "330600", "330000"} {
		if _, err := New(Options{Division: code}); err == nil {
			t.Errorf("New accepted division %q", code)
		}
	}
}

// TestCapacity: the last index gives a resident, the next panics.
func TestCapacity(t *testing.T) {
	g := newGen(t, 1)
	if g.Capacity() < 100_000_000 {
		t.Fatalf("capacity %d, want at least 100 million", g.Capacity())
	}
	g.Resident(g.Capacity() - 1)
	defer func() {
		if recover() == nil {
			t.Error("Resident(Capacity()) did not panic")
		}
	}()
	g.Resident(g.Capacity())
}

// BenchmarkResident measures making one resident with children.
func BenchmarkResident(b *testing.B) {
	g := newGen(b, 1)
	var i uint64
	for b.Loop() {
		g.Resident(i)
		i++
	}
}
