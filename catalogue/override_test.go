package catalogue

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, y string) *Catalogue {
	t.Helper()
	c, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// find returns the service with that code and its scenario, or ok false.
func find(c *Catalogue, code string) (s Service, scenario string, ok bool) {
	for _, sc := range c.Scenarios {
		for _, s := range sc.Services {
			if s.Code == code {
				return s, sc.Code, true
			}
		}
	}
	return Service{}, "", false
}

func TestOverride(t *testing.T) {
	tests := []struct {
		name  string
		city  string
		check func(t *testing.T, c *Catalogue)
	}{
		{
			name: "empty city changes nothing",
			city: "{}",
			check: func(t *testing.T, c *Catalogue) {
				if len(c.Scenarios) != 6 || len(c.Departments) != len(Default().Departments) {
					t.Fatal("catalogue changed")
				}
			},
		},
		{
			name: "department renamed",
			city: "departments: [{code: education, name_zh: 教育体育局, name_en: Education and Sports Bureau}]",
			check: func(t *testing.T, c *Catalogue) {
				if c.Departments[1].NameZH != "教育体育局" || len(c.Departments) != len(Default().Departments) {
					t.Fatalf("departments = %v", c.Departments)
				}
			},
		},
		{
			name: "department added and used",
			city: `
departments: [{code: culture, name_zh: 文化广电旅游体育局, name_en: Culture and Tourism Bureau}]
scenarios:
  - code: employment
    services:
      - code: library_card
        name_zh: 图书馆借阅证
        name_en: Library card
        department: culture
        department_fields: [holder.name]
        rules:
          - version: "2026"
            effective_from: "2026-01-01"
            conditions: [{description: active, expression: permit.status == "active"}]
`,
			check: func(t *testing.T, c *Catalogue) {
				s, sc, ok := find(c, "library_card")
				if !ok || sc != "employment" || s.Department != "culture" {
					t.Fatalf("library_card = %v in %q", s, sc)
				}
			},
		},
		{
			name: "service replaced keeps its place and the scenario's names",
			city: `
scenarios:
  - code: schooling
    services:
      - code: school_enrolment
        name_zh: 义务教育入学（积分）
        name_en: School enrolment by points
        department: education
        for_child: true
        department_fields: [child.name, request.school]
        request_fields: [school]
        rules:
          - version: "2027-09"
            effective_from: "2027-03-01"
            conditions:
              - {description: 积分满120分 / 120 points, expression: int(request.school) >= 0}
`,
			check: func(t *testing.T, c *Catalogue) {
				s, _, _ := find(c, "school_enrolment")
				if s.NameEN != "School enrolment by points" || len(s.Rules) != 1 || s.Rules[0].Version != "2027-09" {
					t.Fatalf("school_enrolment = %+v", s)
				}
				if c.Scenarios[1].Services[0].Code != "school_enrolment" || c.Scenarios[1].NameZH != "教育" {
					t.Fatal("replaced service moved, or scenario names lost")
				}
			},
		},
		{
			name: "service disabled",
			city: "scenarios: [{code: childcare, services: [{code: nursery_place, disabled: true}]}]",
			check: func(t *testing.T, c *Catalogue) {
				if _, _, ok := find(c, "nursery_place"); ok {
					t.Fatal("nursery_place still there")
				}
				if _, _, ok := find(c, "childcare_subsidy"); !ok {
					t.Fatal("childcare_subsidy gone")
				}
			},
		},
		{
			name: "disabled under another scenario still removes",
			city: "scenarios: [{code: medical, services: [{code: nursery_place, disabled: true}]}]",
			check: func(t *testing.T, c *Catalogue) {
				if _, _, ok := find(c, "nursery_place"); ok {
					t.Fatal("nursery_place still there")
				}
			},
		},
		{
			name: "service moved to another scenario",
			city: `
scenarios:
  - code: medical
    services:
      - code: child_health_records
        name_zh: 儿童健康档案
        name_en: Child health records
        department: health
        for_child: true
        department_fields: [child.name]
        rules: [{version: "1", effective_from: "2025-01-01", conditions: [{description: d, expression: "true"}]}]
`,
			check: func(t *testing.T, c *Catalogue) {
				if _, sc, _ := find(c, "child_health_records"); sc != "medical" {
					t.Fatalf("child_health_records in %q, want medical", sc)
				}
			},
		},
		{
			name: "new scenario with names",
			city: `
scenarios:
  - code: elderly_care
    name_zh: 养老
    name_en: Elderly care
    services:
      - code: elderly_allowance
        name_zh: 高龄津贴
        name_en: Old-age allowance
        department: civil_affairs
        department_fields: [holder.name, holder.citizen_id]
        rules: [{version: "1", effective_from: "2025-01-01", conditions: [{description: 年满80周岁 / 80 or over, expression: holder.age_years >= 80}]}]
`,
			check: func(t *testing.T, c *Catalogue) {
				if len(c.Scenarios) != 7 || c.Scenarios[6].Code != "elderly_care" {
					t.Fatal("new scenario not added last")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := Default()
			city := mustParse(t, tt.city)
			got, err := Override(base, city)
			if err != nil {
				t.Fatalf("Override: %v", err)
			}
			tt.check(t, got)
			if _, err := Compile(got); err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if len(base.Scenarios) != 6 || len(base.Scenarios[0].Services) != len(Default().Scenarios[0].Services) {
				t.Fatal("Override modified base")
			}
		})
	}
}

func TestOverrideErrors(t *testing.T) {
	svc := func(code, dept, date string) string {
		return `
      - code: ` + code + `
        name_zh: 服务
        name_en: Service
        department: ` + dept + `
        department_fields: [holder.name]
        rules: [{version: "1", effective_from: "` + date + `", conditions: [{description: d, expression: "true"}]}]`
	}
	tests := []struct {
		name, city, want string
	}{
		{"unknown department", "scenarios:\n  - code: housing\n    services:" + svc("x_service", "housing_bureau", "2025-01-01"), `service x_service: unknown department "housing_bureau"`},
		{"unknown scenario", "scenarios:\n  - code: huosing\n    services:" + svc("x_service", "housing", "2025-01-01"), `scenario "huosing" is not in the base catalogue`},
		{"bad date", "scenarios:\n  - code: housing\n    services:" + svc("x_service", "housing", "2025-13-01"), `effective_from "2025-13-01" is not a date`},
		{"duplicate service in city", "scenarios:\n  - code: housing\n    services:" + svc("x_service", "housing", "2025-01-01") + svc("x_service", "housing", "2025-01-01"), "city catalogue: service x_service: duplicate code"},
		{"duplicate department in city", "departments: [{code: a, name_zh: 甲, name_en: A}, {code: a, name_zh: 甲, name_en: A}]", "department a: duplicate code"},
		{"disable unknown service", "scenarios: [{code: housing, services: [{code: public_rental_housin, disabled: true}]}]", "public_rental_housin: disabled, but the base catalogue has no such service"},
		{"department without names", "departments: [{code: tax}]", "department tax: name_zh and name_en are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Override(Default(), mustParse(t, tt.city))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Override = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
