package catalogue

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
)

func date(s string) time.Time {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

// facts returns synthetic facts: an active permit with 24 months of
// residence, a holder born 1990-05-20 and a child born 2019-07-01.
func facts(t testing.TB) Facts {
	t.Helper()
	g := citizenid.NewGenerator(7)
	today := date("2026-11-29")
	holder, err := NewPerson("张三", g.NextWith(citizenid.Male, date("1990-05-20")), today)
	if err != nil {
		t.Fatal(err)
	}
	child, err := NewPerson("张小明", g.NextWith(citizenid.Female, date("2019-07-01")), today)
	if err != nil {
		t.Fatal(err)
	}
	return Facts{
		Permit: PermitFacts{
			ID: "330604-2025-000123", Status: "active", IssuingDivision: "330604",
			ResidenceAddress: "上虞区百官街道示例路1号", ResidenceMonths: 24, ResidenceMonthsHere: 10,
			ResidenceYears: 2, IssuedHere: true,
		},
		Holder:  holder,
		Child:   &child,
		Request: map[string]string{"school": "示例小学"},
	}
}

func compileMini(t testing.TB) *Compiled {
	t.Helper()
	c, err := Compile(mini())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, expr string
		service    int // index in mini()'s schooling scenario
		want       string
	}{
		{"typo in a child field", "child.agee_years >= 6", 0, `service school_enrolment rule v1: condition 2 "child.agee_years >= 6": undefined field 'agee_years'`},
		{"typo in a permit field", "permit.residence_month >= 6", 0, "undefined field 'residence_month'"},
		{"undeclared variable", "chld.age_years >= 6", 0, "undeclared reference to 'chld'"},
		{"child in a service not for a child", "child.age_years >= 6", 1, `service adult_course rule v1: condition 2 "child.age_years >= 6": undeclared reference to 'child'`},
		{"not bool", "permit.residence_months + 1", 0, "has type int, want bool"},
		{"type mismatch", `permit.residence_months >= "6"`, 0, "no matching overload"},
		{"syntax", "permit.status ==", 0, "Syntax error"},
		{"undeclared request field", `request.shcool != ""`, 0, "request.shcool is not one of the service's request_fields [school]"},
		{"undeclared request field by index", `request["grade"] != ""`, 0, "request.grade is not one of the service's request_fields"},
		{"request in a service without request fields", `has(request.school)`, 1, "request.school is not one of the service's request_fields []"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mini()
			s := &c.Scenarios[0].Services[tt.service]
			s.Rules[0].Conditions = slices.Insert(s.Rules[0].Conditions, 1, Condition{Description: "x", Expression: tt.expr})
			_, err := Compile(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestCompileReportsEveryBadCondition(t *testing.T) {
	c := mini()
	c.Scenarios[0].Services[0].Rules[0].Conditions[0].Expression = "permit.sttus == 1"
	c.Scenarios[0].Services[1].Rules[0].Conditions[0].Expression = "holder.ag > 1"
	_, err := Compile(c)
	if err == nil || !strings.Contains(err.Error(), "sttus") || !strings.Contains(err.Error(), "service adult_course") {
		t.Fatalf("Compile = %v, want both errors", err)
	}
}

func TestEvaluateConditions(t *testing.T) {
	c := compileMini(t)
	day := date("2026-11-29")
	tests := []struct {
		name     string
		change   func(f *Facts)
		passed   []bool
		eligible bool
	}{
		{"all pass", func(f *Facts) {}, []bool{true, true, true}, true},
		{"suspended", func(f *Facts) { f.Permit.Status = "suspended" }, []bool{false, true, true}, false},
		{"too short", func(f *Facts) { f.Permit.ResidenceMonths = 5 }, []bool{true, false, true}, false},
		{"too young and suspended", func(f *Facts) {
			f.Permit.Status = "suspended"
			f.Child.BirthDate = date("2020-11-30")
		}, []bool{false, true, false}, false},
		{"sixth birthday today", func(f *Facts) { f.Child.BirthDate = date("2020-11-29") }, []bool{true, true, true}, true},
		{"every condition fails", func(f *Facts) {
			f.Permit = PermitFacts{}
			f.Child.BirthDate = day
		}, []bool{false, false, false}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := facts(t)
			tt.change(&f)
			out, err := c.Evaluate("school_enrolment", f, day)
			if err != nil {
				t.Fatal(err)
			}
			if out.Eligible != tt.eligible || out.RuleVersion != "v1" {
				t.Errorf("Eligible, RuleVersion = %v, %q; want %v, v1", out.Eligible, out.RuleVersion, tt.eligible)
			}
			var passed []bool
			for i, co := range out.Conditions {
				passed = append(passed, co.Passed)
				want := mini().Scenarios[0].Services[0].Rules[0].Conditions[i]
				if co.Description != want.Description || co.Expression != want.Expression || co.Detail != "" {
					t.Errorf("condition %d = %+v", i+1, co)
				}
			}
			if !slices.Equal(passed, tt.passed) {
				t.Errorf("passed = %v, want %v", passed, tt.passed)
			}
		})
	}
}

func TestEvaluateErrorIsDetail(t *testing.T) {
	c, err := Compile(Default())
	if err != nil {
		t.Fatal(err)
	}
	f := facts(t)
	f.Permit.ResidenceMonthsHere = 30
	f.Request = map[string]string{"household_size": "three", "owns_home_here": "no"}
	out, err := c.Evaluate("public_rental_housing", f, date("2026-11-29"))
	if err != nil {
		t.Fatal(err)
	}
	last := out.Conditions[len(out.Conditions)-1]
	if out.Eligible || last.Passed || !strings.Contains(last.Detail, "conversion error") {
		t.Fatalf("outcome = %+v, want the last condition failed with the conversion error", out)
	}
	for _, co := range out.Conditions[:len(out.Conditions)-1] {
		if !co.Passed {
			t.Errorf("condition %q failed: %s", co.Description, co.Detail)
		}
	}
	f.Request["household_size"] = "3"
	if out, _ := c.Evaluate("public_rental_housing", f, date("2026-11-29")); !out.Eligible {
		t.Fatalf("outcome = %+v, want eligible", out)
	}
}

func TestEvaluateErrors(t *testing.T) {
	c := compileMini(t)
	day := date("2026-11-29")
	f := facts(t)

	if _, err := c.Evaluate("nope", f, day); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown service: %v", err)
	}
	if _, err := c.Evaluate("school_enrolment", f, date("2025-02-28")); !errors.Is(err, ErrNoRuleInForce) ||
		!strings.Contains(err.Error(), "2025-03-01") {
		t.Errorf("before the first rule: %v", err)
	}
	noChild := f
	noChild.Child = nil
	if _, err := c.Evaluate("school_enrolment", noChild, day); !errors.Is(err, ErrMissingFacts) {
		t.Errorf("no child: %v", err)
	}
	noSchool := f
	noSchool.Request = nil
	if _, err := c.Evaluate("school_enrolment", noSchool, day); !errors.Is(err, ErrMissingFacts) || !strings.Contains(err.Error(), `"school"`) {
		t.Errorf("no school: %v", err)
	}
	adult := f
	adult.Child, adult.Request = nil, nil
	if out, err := c.Evaluate("adult_course", adult, day); err != nil || !out.Eligible {
		t.Errorf("adult_course without child or request = %+v, %v", out, err)
	}
}

func TestEffectiveDates(t *testing.T) {
	c, err := Compile(Default())
	if err != nil {
		t.Fatal(err)
	}
	f := facts(t)
	f.Permit.ResidenceMonths, f.Permit.ResidenceMonthsHere = 18, 8 // moved in from another member city
	tests := []struct {
		day, version string
		eligible     bool
	}{
		{"2025-03-01", "2025-09", false},
		{"2026-02-28", "2025-09", false},
		{"2026-03-01", "2026-09", true},
		{"2030-01-01", "2026-09", true},
	}
	for _, tt := range tests {
		t.Run(tt.day, func(t *testing.T) {
			f.Child.BirthDate = date(tt.day).AddDate(-7, 0, 0)
			out, err := c.Evaluate("school_enrolment", f, date(tt.day))
			if err != nil {
				t.Fatal(err)
			}
			if out.RuleVersion != tt.version || out.Eligible != tt.eligible {
				t.Fatalf("Evaluate = %s %v, want %s %v", out.RuleVersion, out.Eligible, tt.version, tt.eligible)
			}
			r, err := c.RuleAt("school_enrolment", date(tt.day))
			if err != nil || r.Version != tt.version {
				t.Fatalf("RuleAt = %s, %v", r.Version, err)
			}
		})
	}
	// The day counts in its own location: 1 March 00:30 in Shanghai is
	// still 28 February in UTC.
	shanghai := time.FixedZone("CST", 8*3600)
	if r, _ := c.RuleAt("school_enrolment", time.Date(2026, 3, 1, 0, 30, 0, 0, shanghai)); r.Version != "2026-09" {
		t.Fatalf("RuleAt in CST = %s, want 2026-09", r.Version)
	}
}

func TestToday(t *testing.T) {
	c := mini()
	c.Scenarios[0].Services[1].Rules[0].Conditions[0].Expression = `today >= "2026-09-01" && today.startsWith("2026")`
	cc, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	for day, want := range map[string]bool{"2026-08-31": false, "2026-09-01": true, "2027-01-01": false} {
		if out, _ := cc.Evaluate("adult_course", facts(t), date(day)); out.Eligible != want {
			t.Errorf("on %s: eligible %v, want %v", day, out.Eligible, want)
		}
	}
}

func TestPayload(t *testing.T) {
	c, err := Compile(Default())
	if err != nil {
		t.Fatal(err)
	}
	f := facts(t)
	got := c.Payload("school_enrolment", f)
	want := map[string]string{
		"holder.name": "张三", "holder.citizen_id": f.Holder.CitizenID, "permit.id": f.Permit.ID,
		"permit.residence_address": f.Permit.ResidenceAddress, "permit.residence_years": "2",
		"child.name": "张小明", "child.citizen_id": f.Child.CitizenID, "child.sex": "female",
		"child.birth_date": "2019-07-01", "request.school": "示例小学",
	}
	if !maps.Equal(got, want) {
		t.Errorf("Payload = %v, want %v", got, want)
	}
	// A department that does not declare the holder's id never sees it.
	f.Request = map[string]string{"health_centre": "百官社区卫生服务中心", "school": "x"}
	got = c.Payload("family_doctor_signing", f)
	for k, v := range got {
		if strings.Contains(v, f.Holder.CitizenID) || strings.HasPrefix(k, "child.") || k == "request.school" {
			t.Errorf("family_doctor_signing payload leaks %s=%s", k, v)
		}
	}
	if len(got) != 5 {
		t.Errorf("family_doctor_signing payload = %v, want its 5 fields", got)
	}
	if c.Payload("nope", f) != nil {
		t.Error("Payload of an unknown service is not nil")
	}
	// Every vocabulary field has a value source.
	all := Facts{Permit: f.Permit, Holder: f.Holder, Child: f.Child}
	for name := range FieldVocabulary {
		if fieldValue(name, &all) == "" {
			t.Errorf("field %s has no value", name)
		}
	}
}

func TestServiceAndCatalogue(t *testing.T) {
	c := compileMini(t)
	s, sc, ok := c.Service("school_enrolment")
	if !ok || sc != "schooling" || s.Department != "education" || !s.ForChild {
		t.Fatalf("Service = %+v, %q, %v", s, sc, ok)
	}
	s.DepartmentFields[0] = "changed"
	if s2, _, _ := c.Service("school_enrolment"); s2.DepartmentFields[0] == "changed" {
		t.Fatal("Service shares state")
	}
	if _, _, ok := c.Service("nope"); ok {
		t.Fatal("unknown service found")
	}
	cat := c.Catalogue()
	cat.Scenarios[0].Services[0].Rules[0].Conditions[0].Expression = "false"
	if out, _ := c.Evaluate("school_enrolment", facts(t), date("2026-11-29")); !out.Eligible {
		t.Fatal("changing Catalogue() changed the compiled rules")
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		birth, day    string
		years, months int64
	}{
		{"2020-05-15", "2026-05-15", 6, 72},
		{"2020-05-15", "2026-05-14", 5, 71},
		{"2020-02-29", "2026-02-28", 5, 71},
		{"2020-02-29", "2026-03-01", 6, 72},
		{"2020-01-31", "2020-02-29", 0, 0},
		{"2020-01-31", "2020-03-31", 0, 2},
		{"2026-12-01", "2026-11-29", 0, 0},
	}
	for _, tt := range tests {
		y, m := age(date(tt.birth), date(tt.day))
		if y != tt.years || m != tt.months {
			t.Errorf("age(%s, %s) = %d, %d; want %d, %d", tt.birth, tt.day, y, m, tt.years, tt.months)
		}
	}
}

func TestNewPerson(t *testing.T) {
	id := citizenid.NewGenerator(1).NextWith(citizenid.Female, date("1988-02-03"))
	p, err := NewPerson("李四", strings.ToLower(id), date("2026-11-29"))
	if err != nil || p.Sex != "female" || formatDate(p.BirthDate) != "1988-02-03" || p.CitizenID != id {
		t.Fatalf("NewPerson = %+v, %v", p, err)
	}
	if _, err := NewPerson("李四", "110101198802031234", date("2026-11-29")); err == nil {
		t.Fatal("NewPerson accepted a bad check character")
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	c := compileMini(t)
	f := facts(t)
	done := make(chan error)
	for i := range 8 {
		go func() {
			g := f
			g.Permit.ResidenceMonths = i
			out, err := c.Evaluate("school_enrolment", g, date("2026-11-29"))
			if err == nil && out.Eligible != (i >= 6) {
				err = fmt.Errorf("months %d: eligible %v", i, out.Eligible)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// FuzzEvaluate feeds arbitrary request values and residence months to a
// rule that converts a request field: it never errors or panics, and it is
// eligible exactly when the conditions hold.
func FuzzEvaluate(f *testing.F) {
	c, err := Compile(Default())
	if err != nil {
		f.Fatal(err)
	}
	base := facts(f)
	f.Add("3", "no", 12)
	f.Add("three", "no", 12)
	f.Add("99999999999999999999", "yes", -1)
	f.Add("", "", 0)
	f.Fuzz(func(t *testing.T, size, owns string, months int) {
		fc := base
		fc.Permit.ResidenceMonthsHere = months
		fc.Request = map[string]string{"household_size": size, "owns_home_here": owns}
		out, err := c.Evaluate("public_rental_housing", fc, date("2026-11-29"))
		if size == "" || owns == "" {
			if !errors.Is(err, ErrMissingFacts) {
				t.Fatalf("empty field: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		n, convErr := strconv.ParseInt(size, 10, 64)
		want := months >= 12 && owns == "no" && convErr == nil && n >= 1 && n <= 8
		if out.Eligible != want {
			t.Fatalf("size %q owns %q months %d: eligible %v, want %v (%+v)", size, owns, months, out.Eligible, want, out.Conditions)
		}
	})
}

func BenchmarkEvaluate(b *testing.B) {
	c := compileMini(b)
	f := facts(b)
	day := date("2026-11-29")
	b.ReportAllocs()
	for b.Loop() {
		if out, err := c.Evaluate("school_enrolment", f, day); err != nil || !out.Eligible {
			b.Fatal(out, err)
		}
	}
}

func BenchmarkPayload(b *testing.B) {
	c, err := Compile(Default())
	if err != nil {
		b.Fatal(err)
	}
	f := facts(b)
	b.ReportAllocs()
	for b.Loop() {
		c.Payload("school_enrolment", f)
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Compile(Default()); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCompileCondition compiles arbitrary expressions: Compile either
// accepts one, and Evaluate then answers, or names where it failed; it
// never panics.
func FuzzCompileCondition(f *testing.F) {
	for _, s := range []string{`permit.status == "active"`, "holder.age_years >= 18", "child.age_years", `request["x"] == ""`, "1/0 == 1", "[1,2].exists(x, x > holder.age_years)", "((("} {
		f.Add(s)
	}
	fc := facts(f)
	f.Fuzz(func(t *testing.T, expr string) {
		if strings.TrimSpace(expr) == "" {
			return
		}
		c := mini()
		c.Scenarios[0].Services[1].Rules[0].Conditions[0].Expression = expr
		cc, err := Compile(c)
		if err != nil {
			if !strings.Contains(err.Error(), "service adult_course rule v1: condition 1 ") {
				t.Fatalf("error does not name the condition: %v", err)
			}
			return
		}
		out, err := cc.Evaluate("adult_course", fc, date("2026-11-29"))
		if err != nil || len(out.Conditions) != 1 {
			t.Fatalf("Evaluate = %+v, %v", out, err)
		}
	})
}
