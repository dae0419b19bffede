package catalogue

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	rulesv1 "github.com/yrd-epermit/epermit/proto/epermit/rules/v1"
)

// ErrUnknownService is returned when a service code is not in the
// catalogue.
var ErrUnknownService = errors.New("catalogue: unknown service")

// ErrNoRuleInForce is returned when a service has no rule version in force
// on the day asked: every version takes effect later.
var ErrNoRuleInForce = errors.New("catalogue: no rule in force")

// ErrMissingFacts is returned by Evaluate when the facts lack what the
// service needs: the child of a service for a child, or a request field.
var ErrMissingFacts = errors.New("catalogue: missing facts")

// Compiled is a validated catalogue with every condition compiled. It is
// safe for concurrent use and never changes; a new catalogue is a new
// Compiled.
type Compiled struct {
	cat      *Catalogue
	services map[string]*compiledService
}

type compiledService struct {
	svc      Service
	scenario string
	// rules in order of effective date, earliest first.
	rules []compiledRule
}

type compiledRule struct {
	rule  Rule
	progs []cel.Program
}

// Outcome is the decision on a request.
type Outcome struct {
	// Eligible is true when every condition passed.
	Eligible bool
	// RuleVersion is the version of the rule that decided.
	RuleVersion string
	// Conditions holds every condition with its outcome, in rule order.
	Conditions []ConditionOutcome
}

// ConditionOutcome is one condition's outcome.
type ConditionOutcome struct {
	Description string
	Expression  string
	Passed      bool
	// Detail says why a condition could not be evaluated; empty otherwise.
	Detail string
}

// envs are the CEL environments: one for services for a child (child
// declared) and one for the rest.
var envs = func() [2]*cel.Env {
	permit := cel.ObjectType(string((&rulesv1.Permit{}).ProtoReflect().Descriptor().FullName()))
	person := cel.ObjectType(string((&rulesv1.Person{}).ProtoReflect().Descriptor().FullName()))
	base := []cel.EnvOption{
		cel.Types(&rulesv1.Permit{}, &rulesv1.Person{}),
		cel.Variable("permit", permit),
		cel.Variable("holder", person),
		cel.Variable("request", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("today", cel.StringType),
		ext.Strings(),
	}
	adult, err := cel.NewEnv(base...)
	if err != nil {
		panic(err)
	}
	child, err := adult.Extend(cel.Variable("child", person))
	if err != nil {
		panic(err)
	}
	return [2]*cel.Env{adult, child}
}()

func envFor(forChild bool) *cel.Env {
	if forChild {
		return envs[1]
	}
	return envs[0]
}

// Compile validates c (see [Catalogue.Validate]) and compiles every
// condition of every rule version of every service. An expression must
// type-check to bool over the declared facts, and may read from request
// only the service's request_fields. The error names the service, the rule
// version and the condition. Compile keeps its own copy of c.
func Compile(c *Catalogue) (*Compiled, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	out := &Compiled{cat: c.Clone(), services: make(map[string]*compiledService)}
	var errs []error
	for _, sc := range out.cat.Scenarios {
		for _, s := range sc.Services {
			cs := &compiledService{svc: s, scenario: sc.Code}
			env := envFor(s.ForChild)
			for _, r := range s.Rules {
				cr := compiledRule{rule: r}
				for i, cond := range r.Conditions {
					prg, err := compileCondition(env, cond.Expression, s.RequestFields)
					if err != nil {
						errs = append(errs, fmt.Errorf("service %s rule %s: condition %d %q: %w", s.Code, r.Version, i+1, cond.Expression, err))
						continue
					}
					cr.progs = append(cr.progs, prg)
				}
				cs.rules = append(cs.rules, cr)
			}
			sort.Slice(cs.rules, func(i, j int) bool { return cs.rules[i].rule.EffectiveFrom < cs.rules[j].rule.EffectiveFrom })
			out.services[s.Code] = cs
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// compileCondition compiles and checks one expression.
func compileCondition(env *cel.Env, expr string, requestFields []string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		// One line per issue, without CEL's source excerpt: the caller
		// quotes the expression.
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%s (column %d)", e.Message, e.Location.Column()+1))
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("has type %s, want bool", ast.OutputType())
	}
	if err := checkRequestRefs(ast, requestFields); err != nil {
		return nil, err
	}
	return env.Program(ast, cel.EvalOptions(cel.OptOptimize))
}

// checkRequestRefs rejects request.x and request["x"] for an x that is not
// a request field of the service, which the map type alone cannot catch.
func checkRequestRefs(ast *cel.Ast, requestFields []string) error {
	var err error
	check := func(name string) {
		if err == nil && !slices.Contains(requestFields, name) {
			err = fmt.Errorf("request.%s is not one of the service's request_fields %v", name, requestFields)
		}
	}
	isRequest := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "request" }
	celast.PostOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			if sel := e.AsSelect(); isRequest(sel.Operand()) {
				check(sel.FieldName())
			}
		case celast.CallKind:
			call := e.AsCall()
			args := call.Args()
			if call.FunctionName() == operators.Index && len(args) == 2 && isRequest(args[0]) && args[1].Kind() == celast.LiteralKind {
				if s, ok := args[1].AsLiteral().(types.String); ok {
					check(string(s))
				}
			}
		}
	}))
	return err
}

// Catalogue returns a copy of the compiled catalogue.
func (c *Compiled) Catalogue() *Catalogue { return c.cat.Clone() }

// Service returns the service with that code and its scenario's code.
func (c *Compiled) Service(code string) (svc Service, scenario string, ok bool) {
	cs, ok := c.services[code]
	if !ok {
		return Service{}, "", false
	}
	return cs.svc.clone(), cs.scenario, true
}

// RuleAt returns the rule version of the service in force on day: the one
// with the latest effective_from on or before day's date (in day's own
// location).
func (c *Compiled) RuleAt(service string, day time.Time) (Rule, error) {
	_, cr, err := c.ruleAt(service, day)
	if err != nil {
		return Rule{}, err
	}
	r := cr.rule
	r.Conditions = slices.Clone(r.Conditions)
	return r, nil
}

func (c *Compiled) ruleAt(service string, day time.Time) (*compiledService, *compiledRule, error) {
	cs, ok := c.services[service]
	if !ok {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownService, service)
	}
	date := day.Format(DateLayout)
	i := sort.Search(len(cs.rules), func(i int) bool { return cs.rules[i].rule.EffectiveFrom > date })
	if i == 0 {
		return nil, nil, fmt.Errorf("%w for service %s on %s: the first rule takes effect on %s", ErrNoRuleInForce, service, date, cs.rules[0].rule.EffectiveFrom)
	}
	return cs, &cs.rules[i-1], nil
}

// Evaluate decides a request for service with facts f on day: it takes the
// rule in force on day (see [Compiled.RuleAt]) and evaluates every
// condition, even after one failed, so the clerk sees each outcome. A
// condition that cannot be evaluated (e.g. int() of a non-number) fails
// with the error as its detail. Evaluate returns an error, and no outcome,
// for an unknown service, no rule in force, or missing facts (the child of
// a service for a child, an empty request field).
func (c *Compiled) Evaluate(service string, f Facts, day time.Time) (Outcome, error) {
	cs, cr, err := c.ruleAt(service, day)
	if err != nil {
		return Outcome{}, err
	}
	for _, name := range cs.svc.RequestFields {
		if f.Request[name] == "" {
			return Outcome{}, fmt.Errorf("%w: service %s needs request field %q", ErrMissingFacts, service, name)
		}
	}
	act := &activation{
		permit:  permitFacts(&f.Permit),
		holder:  personFacts(&f.Holder, day),
		request: f.Request,
		today:   day.Format(DateLayout),
	}
	if act.request == nil {
		act.request = map[string]string{}
	}
	if cs.svc.ForChild {
		if f.Child == nil {
			return Outcome{}, fmt.Errorf("%w: service %s is for a child and no child was given", ErrMissingFacts, service)
		}
		act.child = personFacts(f.Child, day)
	}
	out := Outcome{Eligible: true, RuleVersion: cr.rule.Version, Conditions: make([]ConditionOutcome, len(cr.progs))}
	for i, prg := range cr.progs {
		cond := cr.rule.Conditions[i]
		co := ConditionOutcome{Description: cond.Description, Expression: cond.Expression}
		v, _, err := prg.Eval(act)
		switch {
		case err != nil:
			co.Detail = err.Error()
		case v == types.True:
			co.Passed = true
		case v != types.False:
			co.Detail = fmt.Sprintf("evaluated to %v, not a bool", v)
		}
		if !co.Passed {
			out.Eligible = false
		}
		out.Conditions[i] = co
	}
	return out, nil
}

// activation binds the rule variables for one evaluation.
type activation struct {
	permit        *rulesv1.Permit
	holder, child *rulesv1.Person
	request       map[string]string
	today         string
}

// ResolveName implements cel.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "permit":
		return a.permit, true
	case "holder":
		return a.holder, true
	case "child":
		return a.child, a.child != nil
	case "request":
		return a.request, true
	case "today":
		return a.today, true
	}
	return nil, false
}

// Parent implements cel.Activation.
func (a *activation) Parent() cel.Activation { return nil }

func permitFacts(p *PermitFacts) *rulesv1.Permit {
	return &rulesv1.Permit{
		Status:              p.Status,
		IssuingDivision:     p.IssuingDivision,
		ResidenceMonths:     int64(p.ResidenceMonths),
		ResidenceMonthsHere: int64(p.ResidenceMonthsHere),
		ResidenceYears:      int64(p.ResidenceYears),
		IssuedHere:          p.IssuedHere,
	}
}

func personFacts(p *Person, day time.Time) *rulesv1.Person {
	years, months := age(p.BirthDate, day)
	return &rulesv1.Person{AgeYears: years, AgeMonths: months, BirthDate: formatDate(p.BirthDate), Sex: p.Sex}
}

// Payload returns what the service's department receives: exactly the
// service's department_fields, by name, with their values from f (empty
// when f lacks one). It returns nil for an unknown service.
func (c *Compiled) Payload(service string, f Facts) map[string]string {
	cs, ok := c.services[service]
	if !ok {
		return nil
	}
	out := make(map[string]string, len(cs.svc.DepartmentFields))
	for _, name := range cs.svc.DepartmentFields {
		out[name] = fieldValue(name, &f)
	}
	return out
}
