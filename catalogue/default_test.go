package catalogue

import (
	"strings"
	"testing"
)

// TestDefaultRulesAdmitSomeone checks that no shipped rule is impossible:
// for each service, a plausible synthetic resident is eligible, and the
// same resident with a suspended permit is not.
func TestDefaultRulesAdmitSomeone(t *testing.T) {
	c, err := Compile(Default())
	if err != nil {
		t.Fatal(err)
	}
	day := date("2026-11-29")
	cases := map[string]struct {
		childBorn string
		request   map[string]string
	}{
		"childcare_subsidy":                 {"2025-01-10", map[string]string{"bank_account": "6222000000000000000"}},
		"child_health_records":              {"2022-06-01", nil},
		"nursery_place":                     {"2025-01-10", map[string]string{"nursery": "示例托育园"}},
		"school_enrolment":                  {"2020-06-01", map[string]string{"school": "示例小学"}},
		"school_transfer":                   {"2017-06-01", map[string]string{"school": "示例小学", "current_school": "原小学"}},
		"high_school_exam_registration":     {"2011-06-01", map[string]string{"junior_school": "示例初中"}},
		"employment_registration":           {"", map[string]string{"employer": "示例有限公司"}},
		"unemployment_registration":         {"", nil},
		"vocational_training_subsidy":       {"", map[string]string{"course": "电工", "certificate_number": "C-0001", "bank_account": "6222000000000000000"}},
		"public_rental_housing":             {"", map[string]string{"household_size": "3", "owns_home_here": "no"}},
		"housing_provident_fund":            {"", map[string]string{"purpose": "rent_withdrawal", "employer": "示例有限公司"}},
		"medical_insurance_enrolment":       {"", nil},
		"child_medical_insurance_enrolment": {"2015-06-01", nil},
		"family_doctor_signing":             {"", map[string]string{"health_centre": "示例社区卫生服务中心"}},
		"business_registration":             {"", map[string]string{"business_name": "示例小吃店", "business_type": "individual"}},
		"startup_guaranteed_loan":           {"", map[string]string{"business_licence_number": "91330604000000000X", "amount_yuan": "200000"}},
	}
	for _, sc := range c.Catalogue().Scenarios {
		for _, s := range sc.Services {
			t.Run(s.Code, func(t *testing.T) {
				tc, ok := cases[s.Code]
				if !ok {
					t.Fatal("no test case for this service")
				}
				for _, r := range s.Rules {
					if r.Conditions[0].Expression != `permit.status == "active"` {
						t.Errorf("rule %s does not check the permit first", r.Version)
					}
					for _, cond := range r.Conditions {
						if !strings.Contains(cond.Description, " / ") {
							t.Errorf("rule %s: %q is not in Chinese / English", r.Version, cond.Description)
						}
					}
				}
				f := facts(t)
				f.Permit.ResidenceMonths, f.Permit.ResidenceMonthsHere, f.Permit.ResidenceYears = 40, 40, 3
				f.Request = tc.request
				if s.ForChild {
					f.Child.BirthDate = date(tc.childBorn)
				} else {
					f.Child = nil
				}
				out, err := c.Evaluate(s.Code, f, day)
				if err != nil || !out.Eligible {
					t.Fatalf("Evaluate = %+v, %v; want eligible", out, err)
				}
				f.Permit.Status = "suspended"
				if out, _ := c.Evaluate(s.Code, f, day); out.Eligible || out.Conditions[0].Passed {
					t.Fatalf("suspended permit: %+v", out)
				}
				if got := c.Payload(s.Code, f); len(got) != len(s.DepartmentFields) {
					t.Fatalf("Payload = %v, want %v", got, s.DepartmentFields)
				}
			})
		}
	}
}
