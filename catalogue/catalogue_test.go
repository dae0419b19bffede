package catalogue

import (
	"strings"
	"testing"
)

func TestDefaultCatalogue(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if _, err := Compile(c); err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if len(c.Departments) < 8 {
		t.Errorf("%d departments, want at least 8", len(c.Departments))
	}
	want := map[string]string{
		"childcare": "育儿", "schooling": "教育", "employment": "就业",
		"housing": "居住", "medical": "医疗", "entrepreneurship": "创业",
	}
	if len(c.Scenarios) != len(want) {
		t.Errorf("%d scenarios, want %d", len(c.Scenarios), len(want))
	}
	total := 0
	for _, sc := range c.Scenarios {
		if want[sc.Code] != sc.NameZH {
			t.Errorf("scenario %s is named %q, want %q", sc.Code, sc.NameZH, want[sc.Code])
		}
		if len(sc.Services) < 2 {
			t.Errorf("scenario %s has %d services, want at least 2", sc.Code, len(sc.Services))
		}
		total += len(sc.Services)
		for _, s := range sc.Services {
			if (sc.Code == "childcare" || sc.Code == "schooling") && !s.ForChild {
				t.Errorf("service %s in %s is not for_child", s.Code, sc.Code)
			}
			if len(s.DepartmentFields) >= len(FieldVocabulary) {
				t.Errorf("service %s sends every field; declare only what the department needs", s.Code)
			}
		}
	}
	if total < 12 {
		t.Errorf("%d services, want at least 12", total)
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Scenarios[0].Services[0].Rules[0].Conditions[0].Expression = "false"
	if b := Default(); b.Scenarios[0].Services[0].Rules[0].Conditions[0].Expression == "false" {
		t.Fatal("Default shares state between calls")
	}
	if !strings.Contains(string(DefaultYAML()), "scenarios:") {
		t.Fatal("DefaultYAML lacks the scenarios")
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	_, err := Parse([]byte("scenarios:\n  - code: x\n    servics: []\n"))
	if err == nil || !strings.Contains(err.Error(), "servics") {
		t.Fatalf("Parse = %v, want an error naming the unknown key", err)
	}
}

func TestCloneIsDeep(t *testing.T) {
	a := Default()
	b := a.Clone()
	b.Departments[0].NameEN = "changed"
	b.Scenarios[0].Services[0].DepartmentFields[0] = "changed"
	b.Scenarios[0].Services[0].Rules[0].Conditions[0].Description = "changed"
	if a.Departments[0].NameEN == "changed" || a.Scenarios[0].Services[0].DepartmentFields[0] == "changed" ||
		a.Scenarios[0].Services[0].Rules[0].Conditions[0].Description == "changed" {
		t.Fatal("Clone shares state with the original")
	}
}

// mini is a small valid catalogue for tests: one department, one scenario
// with one adult service and one service for a child.
func mini() *Catalogue {
	c, err := Parse([]byte(`
departments:
  - {code: education, name_zh: 教育局, name_en: Education Bureau}
scenarios:
  - code: schooling
    name_zh: 教育
    name_en: Schooling
    services:
      - code: school_enrolment
        name_zh: 入学
        name_en: Enrolment
        department: education
        for_child: true
        department_fields: [child.name, request.school]
        request_fields: [school]
        rules:
          - version: v1
            effective_from: "2025-03-01"
            conditions:
              - {description: active, expression: permit.status == "active"}
              - {description: six months, expression: permit.residence_months >= 6}
              - {description: aged 6, expression: child.age_years >= 6}
      - code: adult_course
        name_zh: 课程
        name_en: Course
        department: education
        department_fields: [holder.name]
        rules:
          - version: v1
            effective_from: "2025-01-01"
            conditions:
              - {description: adult, expression: holder.age_years >= 18}
`))
	if err != nil {
		panic(err)
	}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Catalogue)
		want   string // substring of the error; "" for none
	}{
		{"valid", func(c *Catalogue) {}, ""},
		{"unknown department", func(c *Catalogue) { c.Scenarios[0].Services[0].Department = "edu" }, `service school_enrolment: unknown department "edu"`},
		{"duplicate department", func(c *Catalogue) { c.Departments = append(c.Departments, c.Departments[0]) }, "department education: duplicate code"},
		{"duplicate scenario", func(c *Catalogue) {
			c.Scenarios = append(c.Scenarios, Scenario{Code: "schooling", NameZH: "x", NameEN: "x"})
		}, "scenario schooling: duplicate code"},
		{"duplicate service", func(c *Catalogue) { c.Scenarios[0].Services[1].Code = "school_enrolment" }, "service school_enrolment: duplicate code"},
		{"bad code", func(c *Catalogue) { c.Scenarios[0].Services[0].Code = "School Enrolment" }, "must be lower-case snake case"},
		{"missing names", func(c *Catalogue) { c.Departments[0].NameZH = "" }, "name_zh and name_en are required"},
		{"bad date", func(c *Catalogue) { c.Scenarios[0].Services[0].Rules[0].EffectiveFrom = "2025-02-30" }, `rule v1: effective_from "2025-02-30" is not a date`},
		{"short date", func(c *Catalogue) { c.Scenarios[0].Services[0].Rules[0].EffectiveFrom = "2025-3-1" }, "is not a date"},
		{"no rules", func(c *Catalogue) { c.Scenarios[0].Services[0].Rules = nil }, "service school_enrolment: no rules"},
		{"no conditions", func(c *Catalogue) { c.Scenarios[0].Services[0].Rules[0].Conditions = nil }, "rule v1: no conditions"},
		{"duplicate version", func(c *Catalogue) {
			s := &c.Scenarios[0].Services[0]
			r := s.Rules[0]
			r.EffectiveFrom = "2026-03-01"
			s.Rules = append(s.Rules, r)
		}, "rule v1: duplicate version"},
		{"same effective date", func(c *Catalogue) {
			s := &c.Scenarios[0].Services[0]
			r := s.Rules[0]
			r.Version = "v2"
			s.Rules = append(s.Rules, r)
		}, "effective_from 2025-03-01 is also that of rule v1"},
		{"unknown department field", func(c *Catalogue) { c.Scenarios[0].Services[1].DepartmentFields = []string{"holder.nmae"} }, `department field "holder.nmae": not in the field vocabulary`},
		{"child field in adult service", func(c *Catalogue) { c.Scenarios[0].Services[1].DepartmentFields = []string{"child.name"} }, "child fields need for_child"},
		{"undeclared request field", func(c *Catalogue) { c.Scenarios[0].Services[0].DepartmentFields = []string{"request.grade"} }, `"grade" is not one of the service's request_fields`},
		{"no department fields", func(c *Catalogue) { c.Scenarios[0].Services[1].DepartmentFields = nil }, "no department_fields"},
		{"bad request field", func(c *Catalogue) { c.Scenarios[0].Services[1].RequestFields = []string{"School"} }, `request field "School" must be lower-case snake case`},
		{"disabled in a catalogue", func(c *Catalogue) { c.Scenarios[0].Services[1].Disabled = true }, "disabled is only for a city's override"},
		{"empty expression", func(c *Catalogue) { c.Scenarios[0].Services[1].Rules[0].Conditions[0].Expression = "" }, "condition 1: expression is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mini()
			tt.change(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
			if tt.want != "" {
				if _, err := Compile(c); err == nil {
					t.Fatal("Compile accepted a catalogue that Validate rejects")
				}
			}
		})
	}
}
