package catalogue

import (
	"errors"
	"fmt"
	"slices"
)

// Override returns base changed by a city's catalogue. Neither argument is
// modified.
//
//   - A department whose code is in base replaces it; a new one is added.
//   - A scenario whose code is in base keeps base's names unless the city
//     gives both; a new scenario needs both names.
//   - A service whose code is anywhere in base replaces it whole (its rules
//     included), moving to the city's scenario if that differs; a new one
//     is added to its scenario.
//   - A service with disabled: true removes the service of that code; only
//     its code matters.
//
// Override returns an error for a city catalogue that repeats a code,
// disables a service base does not have, or adds a scenario without names,
// and for a result that fails [Catalogue.Validate] (e.g. a service naming
// an unknown department, or a bad effective date).
func Override(base, city *Catalogue) (*Catalogue, error) {
	if err := city.checkDuplicates(); err != nil {
		return nil, fmt.Errorf("city catalogue: %w", err)
	}
	out := base.Clone()
	for _, d := range city.Departments {
		if i := slices.IndexFunc(out.Departments, func(x Department) bool { return x.Code == d.Code }); i >= 0 {
			out.Departments[i] = d
		} else {
			out.Departments = append(out.Departments, d)
		}
	}
	var errs []error
	for _, csc := range city.Scenarios {
		si := slices.IndexFunc(out.Scenarios, func(x Scenario) bool { return x.Code == csc.Code })
		switch {
		case si < 0 && (csc.NameZH == "" || csc.NameEN == ""):
			errs = append(errs, fmt.Errorf("city catalogue: scenario %q is not in the base catalogue, and a new scenario needs name_zh and name_en", csc.Code))
			continue
		case si < 0:
			out.Scenarios = append(out.Scenarios, Scenario{Code: csc.Code, NameZH: csc.NameZH, NameEN: csc.NameEN})
			si = len(out.Scenarios) - 1
		case csc.NameZH != "" && csc.NameEN != "":
			out.Scenarios[si].NameZH, out.Scenarios[si].NameEN = csc.NameZH, csc.NameEN
		}
		for _, s := range csc.Services {
			if err := out.putService(si, s.clone()); err != nil {
				errs = append(errs, fmt.Errorf("city catalogue: %w", err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("catalogue after the city's override: %w", err)
	}
	return out, nil
}

// putService replaces, moves, adds or (when disabled) removes s in scenario
// si.
func (c *Catalogue) putService(si int, s Service) error {
	for i := range c.Scenarios {
		sc := &c.Scenarios[i]
		j := slices.IndexFunc(sc.Services, func(x Service) bool { return x.Code == s.Code })
		if j < 0 {
			continue
		}
		switch {
		case s.Disabled:
			sc.Services = append(sc.Services[:j], sc.Services[j+1:]...)
		case i == si:
			sc.Services[j] = s
		default:
			sc.Services = append(sc.Services[:j], sc.Services[j+1:]...)
			c.Scenarios[si].Services = append(c.Scenarios[si].Services, s)
		}
		return nil
	}
	if s.Disabled {
		return fmt.Errorf("service %s: disabled, but the base catalogue has no such service", s.Code)
	}
	c.Scenarios[si].Services = append(c.Scenarios[si].Services, s)
	return nil
}

// checkDuplicates reports a department, scenario or service code that
// appears twice in c.
func (c *Catalogue) checkDuplicates() error {
	var errs []error
	seen := make(map[string]bool)
	dup := func(kind, code string) {
		if seen[kind+" "+code] {
			errs = append(errs, fmt.Errorf("%s %s: duplicate code", kind, code))
		}
		seen[kind+" "+code] = true
	}
	for _, d := range c.Departments {
		dup("department", d.Code)
	}
	for _, sc := range c.Scenarios {
		dup("scenario", sc.Code)
		for _, s := range sc.Services {
			dup("service", s.Code)
		}
	}
	return errors.Join(errs...)
}
