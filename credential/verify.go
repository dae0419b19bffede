package credential

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"strconv"
	"strings"
	"time"

	"github.com/veraison/go-cose"

	"github.com/yrd-epermit/epermit/division"
)

// KeyResolver finds the public key for an issuer and kid; ok=false when
// unknown.
type KeyResolver interface {
	PublicKey(issuer, kid string) (pub crypto.PublicKey, ok bool)
}

// KeyResolverFunc adapts a function to a KeyResolver.
type KeyResolverFunc func(issuer, kid string) (crypto.PublicKey, bool)

// PublicKey calls f(issuer, kid).
func (f KeyResolverFunc) PublicKey(issuer, kid string) (crypto.PublicKey, bool) {
	return f(issuer, kid)
}

// Check is one of the checks Verify makes, in the order it makes them.
type Check int

// The checks, in order.
const (
	CheckFormat     Check = iota + 1 // prefix, Base45, zlib, COSE_Sign1, CWT claims all parse
	CheckIssuer                      // issuer and kid known to the resolver
	CheckSignature                   // signature verifies with that key; alg matches key type
	CheckTimeWindow                  // nbf <= now < exp
)

// String returns the check's name in lower case, e.g. "time window".
func (c Check) String() string {
	switch c {
	case CheckFormat:
		return "format"
	case CheckIssuer:
		return "issuer"
	case CheckSignature:
		return "signature"
	case CheckTimeWindow:
		return "time window"
	}
	return "Check(" + strconv.Itoa(int(c)) + ")"
}

// Finding is the outcome of one check.
type Finding struct {
	Check  Check
	Passed bool
	Detail string // an English sentence a clerk can read out
}

// Result is the outcome of Verify.
type Result struct {
	Claims   *Claims   // nil when the format check failed
	KID      string    // the credential's key id; "" when the format check failed
	Findings []Finding // every check made, in order; stops at the first failure
}

// Valid reports whether every check passed (all four present and passed).
func (r Result) Valid() bool {
	if len(r.Findings) != int(CheckTimeWindow) {
		return false
	}
	for i, f := range r.Findings {
		if f.Check != Check(i+1) || !f.Passed {
			return false
		}
	}
	return true
}

// cst is China Standard Time, in which details give times.
var cst = time.FixedZone("CST", 8*60*60)

// Verify decodes and checks text at time now: its format, that keys knows
// its issuer's key, its signature and its time window. It does not, and
// cannot, tell whether the permit has since been suspended or cancelled:
// that is a question for the issuer's register.
func Verify(text string, keys KeyResolver, now time.Time) Result {
	p, err := parse(text)
	if err != nil {
		return Result{Findings: []Finding{{Check: CheckFormat, Detail: "not a well-formed credential: " + err.Error()}}}
	}
	c := &p.claims
	r := Result{Claims: c, KID: p.kid, Findings: make([]Finding, 0, int(CheckTimeWindow))}
	r.Findings = append(r.Findings, Finding{CheckFormat, true,
		"the credential is well formed, signed with " + p.alg.String() + " by key " + p.kid})

	pub, detail, ok := checkIssuer(p, keys)
	r.Findings = append(r.Findings, Finding{CheckIssuer, ok, detail})
	if !ok {
		return r
	}
	detail, ok = checkSignature(p, pub)
	r.Findings = append(r.Findings, Finding{CheckSignature, ok, detail})
	if !ok {
		return r
	}
	detail, ok = checkTimeWindow(c, now)
	r.Findings = append(r.Findings, Finding{CheckTimeWindow, ok, detail})
	return r
}

// keyOf names a key in details: "key 3f2a9c01d2e4b5a6 of 330604".
func keyOf(p *parsed) string {
	return "key " + p.kid + " of " + p.claims.Issuer
}

func checkIssuer(p *parsed, keys KeyResolver) (crypto.PublicKey, string, bool) {
	iss, sub := p.claims.Issuer, p.claims.PermitID
	if !division.IsCode(iss) {
		return nil, "the issuer " + quote(iss) + " is not a six-digit division code", false
	}
	if !strings.HasPrefix(sub, iss+"-") {
		return nil, "the permit id " + quote(sub) + " does not carry the issuing division " + iss, false
	}
	if keys == nil {
		return nil, "no issuer keys are known, so " + keyOf(p) + " is not known", false
	}
	pub, ok := keys.PublicKey(iss, p.kid)
	if !ok {
		return nil, keyOf(p) + " is not known; the issuer's key may be missing from the trust list", false
	}
	return pub, keyOf(p) + " is known", true
}

func checkSignature(p *parsed, pub crypto.PublicKey) (string, bool) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if p.alg != cose.AlgorithmEdDSA {
			return "the credential is signed with " + p.alg.String() + " but " + keyOf(p) + " is an Ed25519 key", false
		}
	case *ecdsa.PublicKey:
		if p.alg != cose.AlgorithmES256 {
			return "the credential is signed with " + p.alg.String() + " but " + keyOf(p) + " is an ECDSA key", false
		}
		if k == nil || k.Curve != elliptic.P256() {
			return keyOf(p) + " is not a P-256 key, as ES256 requires", false
		}
	default:
		return keyOf(p) + " is not an Ed25519 or P-256 key", false
	}
	raw, err := rawPublicKey(pub)
	if err != nil {
		return keyOf(p) + " is not a valid key: " + err.Error(), false
	}
	if kid := kidOf(raw); kid != p.kid {
		return "the key given for " + keyOf(p) + " has key id " + kid + "; the trust list is wrong", false
	}
	v, err := cose.NewVerifier(p.alg, pub)
	if err != nil {
		return keyOf(p) + " cannot verify: " + err.Error(), false
	}
	if err := p.msg.Verify(nil, v); err != nil {
		return "signature by " + keyOf(p) + " does not verify: the credential was altered or signed with another key", false
	}
	return "signature by " + keyOf(p) + " verifies", true
}

func checkTimeWindow(c *Claims, now time.Time) (string, bool) {
	switch {
	case now.Before(c.NotBefore):
		return "not valid before " + formatTime(c.NotBefore), false
	case !now.Before(c.Expiry):
		return "expired on " + formatTime(c.Expiry), false
	}
	return "valid from " + formatTime(c.NotBefore) + " until " + formatTime(c.Expiry), true
}

// formatTime gives t in China Standard Time to the minute,
// e.g. "2027-05-01 00:00 CST".
func formatTime(t time.Time) string {
	return t.In(cst).Format("2006-01-02 15:04 MST")
}

// quote quotes an unverified string for a detail, shortened to 40 runes.
func quote(s string) string {
	const limit = 40
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return strconv.Quote(s)
}
