package scenario

import (
	"strings"
	"time"

	"github.com/yrd-epermit/epermit/catalogue"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/server/validate"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// factsOf are the facts a rule sees, and the payload is drawn from, for a
// request on permit sub, as of now.
func factsOf(sub *permit.Subject, child *epermitv1.Child, fields map[string]string, now time.Time) catalogue.Facts {
	h := sub.Holder
	f := catalogue.Facts{
		Permit: catalogue.PermitFacts{
			ID: sub.PermitID, Status: strings.ToLower(strings.TrimPrefix(sub.Status.String(), "PERMIT_STATUS_")),
			IssuingDivision: sub.IssuingDivision, ResidenceAddress: sub.ResidenceAddress,
			ResidenceMonths: sub.ResidenceMonths, ResidenceMonthsHere: sub.ResidenceMonthsHere,
			ResidenceYears: sub.ResidenceYears, IssuedHere: sub.IssuedHere,
		},
		Holder:  catalogue.Person{Name: h.GetName(), CitizenID: h.GetCitizenId(), Sex: sexWord(h.GetSex())},
		Request: fields,
	}
	if !sub.Valid {
		// A permit that is not valid never meets a rule's status condition,
		// whatever the reason the verifier gave.
		if f.Permit.Status == "active" || f.Permit.Status == "unspecified" {
			f.Permit.Status = "not_valid"
		}
	}
	if b, err := validate.ParseDate(h.GetBirthDate()); err == nil {
		f.Holder.BirthDate = b
	}
	if child != nil {
		if p, err := catalogue.NewPerson(child.Name, child.CitizenId, validate.Today(now)); err == nil {
			f.Child = &p
		}
	}
	return f
}

func sexWord(s epermitv1.Sex) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "SEX_"))
}

// catalogueProto is the compiled catalogue as the API shows it, with the
// rule of each service in force on day.
func catalogueProto(c *catalogue.Compiled, day time.Time) *epermitv1.ListScenariosResponse {
	cat := c.Catalogue()
	resp := &epermitv1.ListScenariosResponse{}
	for _, d := range cat.Departments {
		resp.Departments = append(resp.Departments, &epermitv1.Department{Code: d.Code, NameZh: d.NameZH, NameEn: d.NameEN})
	}
	for _, sc := range cat.Scenarios {
		ps := &epermitv1.Scenario{Code: sc.Code, NameZh: sc.NameZH, NameEn: sc.NameEN}
		for _, svc := range sc.Services {
			if svc.Disabled {
				continue
			}
			p := &epermitv1.Service{Code: svc.Code, NameZh: svc.NameZH, NameEn: svc.NameEN, Department: svc.Department,
				ForChild: svc.ForChild, DepartmentFields: svc.DepartmentFields, RequestFields: svc.RequestFields}
			if r, err := c.RuleAt(svc.Code, day); err == nil {
				p.Rule = &epermitv1.Rule{Version: r.Version, EffectiveFrom: r.EffectiveFrom}
				for _, cond := range r.Conditions {
					p.Rule.Conditions = append(p.Rule.Conditions, &epermitv1.Condition{Description: cond.Description, Expression: cond.Expression})
				}
			}
			ps.Services = append(ps.Services, p)
		}
		resp.Scenarios = append(resp.Scenarios, ps)
	}
	return resp
}
