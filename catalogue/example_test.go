package catalogue_test

import (
	"fmt"
	"time"

	"github.com/yrd-epermit/epermit/catalogue"
)

// A city lowers the residence its school enrolment needs from the 2027
// season and switches off nursery places; the rule in force is chosen by
// the day of evaluation.
func Example() {
	city, err := catalogue.Parse([]byte(`
scenarios:
  - code: schooling
    services:
      - code: school_enrolment
        name_zh: 义务教育入学
        name_en: School enrolment
        department: education
        for_child: true
        department_fields: [holder.name, child.name, child.citizen_id, request.school]
        request_fields: [school]
        rules:
          - version: "2026-09"
            effective_from: "2026-03-01"
            conditions:
              - {description: 居住证有效 / the permit is active, expression: permit.status == "active"}
              - {description: 在长三角居住满12个月 / 12 months in the Delta, expression: permit.residence_months >= 12}
              - {description: 子女6至15周岁 / the child is aged 6 to 15, expression: child.age_years >= 6 && child.age_years <= 15}
          - version: "2027-09"
            effective_from: "2027-03-01"
            conditions:
              - {description: 居住证有效 / the permit is active, expression: permit.status == "active"}
              - {description: 在长三角居住满6个月 / 6 months in the Delta, expression: permit.residence_months >= 6}
              - {description: 子女6至15周岁 / the child is aged 6 to 15, expression: child.age_years >= 6 && child.age_years <= 15}
  - code: childcare
    services:
      - {code: nursery_place, disabled: true}
`))
	if err != nil {
		panic(err)
	}
	merged, err := catalogue.Override(catalogue.Default(), city)
	if err != nil {
		panic(err)
	}
	rules, err := catalogue.Compile(merged)
	if err != nil {
		panic(err)
	}
	facts := catalogue.Facts{
		Permit:  catalogue.PermitFacts{ID: "330604-0001", Status: "active", ResidenceMonths: 8},
		Holder:  catalogue.Person{Name: "张三", BirthDate: time.Date(1990, 5, 20, 0, 0, 0, 0, time.UTC)},
		Child:   &catalogue.Person{Name: "张小明", BirthDate: time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)},
		Request: map[string]string{"school": "示例小学"},
	}
	for _, day := range []time.Time{time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)} {
		out, err := rules.Evaluate("school_enrolment", facts, day)
		if err != nil {
			panic(err)
		}
		fmt.Println(day.Format("2006-01-02"), "rule", out.RuleVersion, "eligible", out.Eligible)
		for _, c := range out.Conditions {
			fmt.Println("  ", c.Passed, c.Description)
		}
	}
	fmt.Println(rules.Payload("school_enrolment", facts))
	_, _, ok := rules.Service("nursery_place")
	fmt.Println("nursery_place offered:", ok)
	// Output:
	// 2026-11-29 rule 2026-09 eligible false
	//    true 居住证有效 / the permit is active
	//    false 在长三角居住满12个月 / 12 months in the Delta
	//    true 子女6至15周岁 / the child is aged 6 to 15
	// 2027-03-01 rule 2027-09 eligible true
	//    true 居住证有效 / the permit is active
	//    true 在长三角居住满6个月 / 6 months in the Delta
	//    true 子女6至15周岁 / the child is aged 6 to 15
	// map[child.citizen_id: child.name:张小明 holder.name:张三 request.school:示例小学]
	// nursery_place offered: false
}
