// Package catalogue holds a city's service catalogue, the six scenarios
// (育儿 childcare, 教育 schooling, 就业 employment, 居住 housing, 医疗 medical
// care, 创业 entrepreneurship), the services in them and the departments that
// deliver them, and compiles each service's eligibility rules, written in CEL
// (cel.dev), into programs that decide a request.
//
// # Basics
//
// [Default] returns the catalogue shipped with epermit (default.yaml beside
// this file, which doubles as documentation). A city changes it with
// [Override], then [Compile] type-checks every condition of every rule
// version once, at start. [Compiled.Evaluate] then decides a request: it
// picks the rule version in force on the day and evaluates every condition,
// so a clerk can read each outcome to the resident. [Compiled.Payload]
// gives a department only the fields its service declares.
//
// # Facts
//
// A rule sees typed facts (the messages in proto/epermit/rules/v1):
// permit (epermit.rules.v1.Permit), holder (epermit.rules.v1.Person), child
// (epermit.rules.v1.Person, declared only for services with for_child),
// request (map<string, string> of the service's request fields) and today
// (the day of evaluation as a "YYYY-MM-DD" string). A rule that names an
// undeclared variable or field does not compile. Rules see no names and
// no citizen id numbers.
//
// # Caveats
//
// Request fields are strings: a rule converts them itself (int(request.x)),
// and a conversion that fails at evaluation makes that condition fail with
// the error as its detail.
package catalogue
