package catalogue

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"
)

// DateLayout is the layout of effective dates and of date facts: YYYY-MM-DD.
const DateLayout = "2006-01-02"

// Catalogue is a city's departments and scenarios with their services.
type Catalogue struct {
	Departments []Department `yaml:"departments"`
	Scenarios   []Scenario   `yaml:"scenarios"`
}

// Department is a department that delivers services.
type Department struct {
	// Code, e.g. "education".
	Code   string `yaml:"code"`
	NameZH string `yaml:"name_zh"`
	NameEN string `yaml:"name_en"`
}

// Scenario is one scenario, e.g. schooling, with its services.
type Scenario struct {
	// Code, e.g. "schooling".
	Code     string    `yaml:"code"`
	NameZH   string    `yaml:"name_zh"`
	NameEN   string    `yaml:"name_en"`
	Services []Service `yaml:"services"`
}

// Service is one public service and how a request for it is decided and
// delivered.
type Service struct {
	// Code, unique in the catalogue, e.g. "school_enrolment".
	Code   string `yaml:"code"`
	NameZH string `yaml:"name_zh"`
	NameEN string `yaml:"name_en"`
	// Department is the code of the department that delivers it.
	Department string `yaml:"department"`
	// ForChild is true when a request is for a child of the holder; only
	// then do rules see `child`.
	ForChild bool `yaml:"for_child,omitempty"`
	// DepartmentFields are the only fields the department receives, from
	// the vocabulary in [FieldVocabulary] plus request.<field>.
	DepartmentFields []string `yaml:"department_fields"`
	// RequestFields name the request's own fields, all required, e.g.
	// "school".
	RequestFields []string `yaml:"request_fields,omitempty"`
	// Rules are the rule versions; the one in force on a day is the one
	// with the latest effective_from on or before it.
	Rules []Rule `yaml:"rules"`
	// Disabled, in a city's override, removes the service.
	Disabled bool `yaml:"disabled,omitempty"`
}

// Rule is one version of a service's eligibility rule: every condition must
// hold.
type Rule struct {
	// Version names the rule; it is recorded with every request it decided.
	Version string `yaml:"version"`
	// EffectiveFrom is the first day the rule applies, YYYY-MM-DD.
	EffectiveFrom string `yaml:"effective_from"`
	// Conditions must all hold.
	Conditions []Condition `yaml:"conditions"`
}

// Condition is one condition of a rule.
type Condition struct {
	// Description is the condition in words a clerk reads to the resident.
	Description string `yaml:"description"`
	// Expression is a CEL expression of type bool over the facts.
	Expression string `yaml:"expression"`
}

// Parse reads a catalogue from YAML. Unknown keys are errors, so a
// misspelt key does not silently drop a setting. Parse does not validate
// the result: [Override] and [Compile] do.
func Parse(data []byte) (*Catalogue, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Catalogue
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	return &c, nil
}

// Clone returns a deep copy of c.
func (c *Catalogue) Clone() *Catalogue {
	if c == nil {
		return nil
	}
	out := &Catalogue{Departments: append([]Department(nil), c.Departments...)}
	for _, sc := range c.Scenarios {
		sc.Services = cloneServices(sc.Services)
		out.Scenarios = append(out.Scenarios, sc)
	}
	return out
}

func cloneServices(in []Service) []Service {
	var out []Service
	for _, s := range in {
		out = append(out, s.clone())
	}
	return out
}

func (s Service) clone() Service {
	s.DepartmentFields = append([]string(nil), s.DepartmentFields...)
	s.RequestFields = append([]string(nil), s.RequestFields...)
	rules := make([]Rule, len(s.Rules))
	for i, r := range s.Rules {
		r.Conditions = append([]Condition(nil), r.Conditions...)
		rules[i] = r
	}
	s.Rules = rules
	return s
}

// codePattern is what a department, scenario, service or request field code
// looks like: lower-case snake case.
var codePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Validate checks c's structure: codes well formed and unique, names
// present, every service naming a known department and having at least one
// rule, rule versions unique with valid, distinct effective dates, every
// rule with at least one condition, and known department and request
// fields. It returns every problem found, joined. Validate does not compile
// expressions; [Compile] does.
func (c *Catalogue) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	depts := make(map[string]bool)
	for i, d := range c.Departments {
		errs = append(errs, checkEntry("department", i, d.Code, d.NameZH, d.NameEN, depts)...)
	}
	if len(c.Scenarios) == 0 {
		bad("no scenarios")
	}
	scenarios := make(map[string]bool)
	services := make(map[string]string)
	for i, sc := range c.Scenarios {
		errs = append(errs, checkEntry("scenario", i, sc.Code, sc.NameZH, sc.NameEN, scenarios)...)
		for j, s := range sc.Services {
			if !codePattern.MatchString(s.Code) {
				bad("scenario %s: service %d: code %q must be lower-case snake case", sc.Code, j+1, s.Code)
				continue
			}
			if other, dup := services[s.Code]; dup {
				bad("service %s: duplicate code (in scenarios %s and %s)", s.Code, other, sc.Code)
				continue
			}
			services[s.Code] = sc.Code
			for _, err := range s.validate(depts) {
				errs = append(errs, fmt.Errorf("service %s: %w", s.Code, err))
			}
		}
	}
	return errors.Join(errs...)
}

// checkEntry checks the code and names of the i-th department or scenario
// and records its code in seen.
func checkEntry(kind string, i int, code, nameZH, nameEN string, seen map[string]bool) []error {
	var errs []error
	switch {
	case !codePattern.MatchString(code):
		errs = append(errs, fmt.Errorf("%s %d: code %q must be lower-case snake case", kind, i+1, code))
	case seen[code]:
		errs = append(errs, fmt.Errorf("%s %s: duplicate code", kind, code))
	}
	seen[code] = true
	if nameZH == "" || nameEN == "" {
		errs = append(errs, fmt.Errorf("%s %s: name_zh and name_en are required", kind, code))
	}
	return errs
}

// validate checks one service against the known departments.
func (s *Service) validate(depts map[string]bool) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Disabled {
		bad("disabled is only for a city's override")
	}
	if s.NameZH == "" || s.NameEN == "" {
		bad("name_zh and name_en are required")
	}
	if !depts[s.Department] {
		bad("unknown department %q", s.Department)
	}
	reqFields := make(map[string]bool)
	for _, f := range s.RequestFields {
		switch {
		case !codePattern.MatchString(f):
			bad("request field %q must be lower-case snake case", f)
		case reqFields[f]:
			bad("request field %q listed twice", f)
		}
		reqFields[f] = true
	}
	if len(s.DepartmentFields) == 0 {
		bad("no department_fields")
	}
	seen := make(map[string]bool)
	for _, f := range s.DepartmentFields {
		if seen[f] {
			bad("department field %q listed twice", f)
		}
		seen[f] = true
		if err := checkField(f, s.ForChild, reqFields); err != nil {
			bad("department field %q: %v", f, err)
		}
	}
	if len(s.Rules) == 0 {
		bad("no rules")
	}
	versions := make(map[string]bool)
	dates := make(map[string]string)
	for i, r := range s.Rules {
		if r.Version == "" {
			bad("rule %d: version is required", i+1)
		} else if versions[r.Version] {
			bad("rule %s: duplicate version", r.Version)
		}
		versions[r.Version] = true
		if d, err := time.Parse(DateLayout, r.EffectiveFrom); err != nil || d.Format(DateLayout) != r.EffectiveFrom {
			bad("rule %s: effective_from %q is not a date (YYYY-MM-DD)", r.Version, r.EffectiveFrom)
		} else if other, dup := dates[r.EffectiveFrom]; dup {
			bad("rule %s: effective_from %s is also that of rule %s", r.Version, r.EffectiveFrom, other)
		}
		dates[r.EffectiveFrom] = r.Version
		if len(r.Conditions) == 0 {
			bad("rule %s: no conditions", r.Version)
		}
		for j, cond := range r.Conditions {
			if cond.Description == "" {
				bad("rule %s: condition %d: description is required", r.Version, j+1)
			}
			if cond.Expression == "" {
				bad("rule %s: condition %d: expression is required", r.Version, j+1)
			}
		}
	}
	return errs
}
