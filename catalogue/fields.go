package catalogue

import (
	"fmt"
	"strconv"
	"strings"
)

// FieldVocabulary lists the department fields a service may declare, with
// what each holds. Besides these, "request.<name>" names one of the
// service's request fields, and child.* fields are allowed only in a
// service for a child.
var FieldVocabulary = map[string]string{
	"holder.name":              "the holder's name",
	"holder.citizen_id":        "the holder's 18-character citizen id number",
	"holder.sex":               "the holder's sex: male or female",
	"holder.birth_date":        "the holder's date of birth, YYYY-MM-DD",
	"permit.id":                "the permit id",
	"permit.status":            "the permit's status, e.g. active",
	"permit.issuing_division":  "the issuing division's 6-digit code",
	"permit.residence_address": "the residence address on the permit",
	"permit.residence_months":  "months of continuous residence across member cities",
	"permit.residence_years":   "residence years as the regulations count them",
	"child.name":               "the child's name",
	"child.citizen_id":         "the child's citizen id number",
	"child.sex":                "the child's sex: male or female",
	"child.birth_date":         "the child's date of birth, YYYY-MM-DD",
}

// checkField reports whether f may be a department field of a service.
func checkField(f string, forChild bool, requestFields map[string]bool) error {
	if name, ok := strings.CutPrefix(f, "request."); ok {
		if !requestFields[name] {
			return fmt.Errorf("%q is not one of the service's request_fields", name)
		}
		return nil
	}
	if _, ok := FieldVocabulary[f]; !ok {
		return fmt.Errorf("not in the field vocabulary")
	}
	if strings.HasPrefix(f, "child.") && !forChild {
		return fmt.Errorf("child fields need for_child: true")
	}
	return nil
}

// fieldValue returns the value of the department field f in facts.
func fieldValue(f string, facts *Facts) string {
	if name, ok := strings.CutPrefix(f, "request."); ok {
		return facts.Request[name]
	}
	if name, ok := strings.CutPrefix(f, "holder."); ok {
		return personField(&facts.Holder, name)
	}
	if name, ok := strings.CutPrefix(f, "child."); ok {
		if facts.Child == nil {
			return ""
		}
		return personField(facts.Child, name)
	}
	switch f {
	case "permit.id":
		return facts.Permit.ID
	case "permit.status":
		return facts.Permit.Status
	case "permit.issuing_division":
		return facts.Permit.IssuingDivision
	case "permit.residence_address":
		return facts.Permit.ResidenceAddress
	case "permit.residence_months":
		return strconv.Itoa(facts.Permit.ResidenceMonths)
	case "permit.residence_years":
		return strconv.Itoa(facts.Permit.ResidenceYears)
	}
	return ""
}

// personField returns the field name (e.g. "citizen_id") of p.
func personField(p *Person, name string) string {
	switch name {
	case "name":
		return p.Name
	case "citizen_id":
		return p.CitizenID
	case "sex":
		return p.Sex
	case "birth_date":
		return formatDate(p.BirthDate)
	}
	return ""
}
