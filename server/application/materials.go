package application

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Requirement is one item of the materials an application needs: a single
// material, or a choice (AnyOf set) of which any one material is enough.
type Requirement struct {
	// Code names the material, or the choice.
	Code string
	// NameZh and NameEn say what to bring, in Chinese and English.
	NameZh, NameEn string
	// AnyOf, when set, are the materials of which one meets the
	// requirement.
	AnyOf []*epermitv1.Material
}

// DefaultRequirements are the materials of Art. 9 of the regulations: the
// resident identity card, a photo, proof of the residence address, and
// one proof of the conditions of Art. 2 (lawful stable employment, lawful
// stable residence or continuous study).
func DefaultRequirements() []Requirement {
	return []Requirement{
		{Code: "id_card", NameZh: "居民身份证", NameEn: "resident identity card"},
		{Code: "photo", NameZh: "近期免冠照片", NameEn: "recent photo"},
		{Code: "residence_proof", NameZh: "居住地址证明", NameEn: "proof of residence address"},
		{
			Code:   "condition_proof",
			NameZh: "合法稳定就业、合法稳定住所或连续就读证明（三者之一）",
			NameEn: "proof of lawful stable employment, lawful stable residence or continuous study (one of the three)",
			AnyOf: []*epermitv1.Material{
				{Code: "employment_proof", NameZh: "合法稳定就业证明", NameEn: "proof of lawful stable employment"},
				{Code: "stable_residence_proof", NameZh: "合法稳定住所证明", NameEn: "proof of lawful stable residence"},
				{Code: "study_proof", NameZh: "连续就读证明", NameEn: "proof of continuous study"},
			},
		},
	}
}

// codePattern is what a material code looks like: lower-case snake case.
var codePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// CheckRequirements checks a configured list: at least one item, codes in
// lower-case snake case and unique across the list and its choices, both
// names given, and a choice of at least two materials.
func CheckRequirements(rs []Requirement) error {
	if len(rs) == 0 {
		return fmt.Errorf("no required material: list at least the resident identity card")
	}
	seen := map[string]bool{}
	check := func(code, zh, en string) error {
		switch {
		case !codePattern.MatchString(code):
			return fmt.Errorf("material code %q is not lower-case snake case (a-z, 0-9, _; at most 40)", code)
		case seen[code]:
			return fmt.Errorf("material code %q is listed twice", code)
		case strings.TrimSpace(zh) == "" || strings.TrimSpace(en) == "":
			return fmt.Errorf("material %q needs both its Chinese (zh) and English (en) name", code)
		}
		seen[code] = true
		return nil
	}
	for _, r := range rs {
		if err := check(r.Code, r.NameZh, r.NameEn); err != nil {
			return err
		}
		if len(r.AnyOf) == 1 {
			return fmt.Errorf("material %q offers a choice of one; list it on its own", r.Code)
		}
		for _, m := range r.AnyOf {
			if err := check(m.GetCode(), m.GetNameZh(), m.GetNameEn()); err != nil {
				return err
			}
		}
	}
	return nil
}

// known reports whether code names a material of the list (not a choice).
func known(rs []Requirement, code string) bool {
	for _, r := range rs {
		if len(r.AnyOf) == 0 && r.Code == code {
			return true
		}
		if slices.ContainsFunc(r.AnyOf, func(m *epermitv1.Material) bool { return m.GetCode() == code }) {
			return true
		}
	}
	return false
}

// missing lists every requirement that the provided materials do not meet,
// in the order of the list: the notice given all at once (一次性告知).
func missing(rs []Requirement, provided []string) []*epermitv1.MissingMaterial {
	var out []*epermitv1.MissingMaterial
	for _, r := range rs {
		met := slices.Contains(provided, r.Code)
		if len(r.AnyOf) > 0 {
			met = slices.ContainsFunc(r.AnyOf, func(m *epermitv1.Material) bool { return slices.Contains(provided, m.GetCode()) })
		}
		if !met {
			out = append(out, &epermitv1.MissingMaterial{Code: r.Code, NameZh: r.NameZh, NameEn: r.NameEn, AnyOf: r.AnyOf})
		}
	}
	return out
}
