package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/division"
)

// FormatVersion is the format version this package reads and writes.
const FormatVersion = 1

// The algorithms an issuer key may have, by their COSE names.
const (
	AlgorithmEdDSA = "EdDSA" // Ed25519
	AlgorithmES256 = "ES256" // ECDSA P-256 with SHA-256
)

// maxNameLength is the longest member name accepted, in characters.
const maxNameLength = 64

// List is the content of a trust list. A List returned by [Verify] has
// been checked and must not be modified; it is safe for concurrent use.
type List struct {
	// Sequence grows with every list the registry signs; a node replaces
	// its list only with one of a greater sequence.
	Sequence uint64
	// IssuedAt is when the list was signed.
	IssuedAt time.Time
	// ExpiresAt is the first moment the list is no longer accepted.
	ExpiresAt time.Time
	// Members are the member divisions; Verify returns them in division
	// code order.
	Members []Member

	// index maps division codes to indexes of Members; set by Verify.
	index map[string]int
}

// Member is one member division of the federation.
type Member struct {
	// Division is the six-digit GB/T 2260 code of the county-level
	// division, e.g. "330604"; credentials it issues carry it as iss.
	Division string
	// Name is the member's name, e.g. "绍兴市上虞区".
	Name string
	// Province is the code of its province-level division, e.g. "330000".
	Province string
	// Endpoint is the host:port of its node's federation API.
	Endpoint string
	// Keys are its issuer keys, in not-before order.
	Keys []IssuerKey
}

// IssuerKey is one issuer key of a member and the window in which it may
// sign credentials.
type IssuerKey struct {
	// KID is the key id as credential.KID computes it: 16 hex digits.
	KID string
	// Algorithm is AlgorithmEdDSA or AlgorithmES256.
	Algorithm string
	// PublicKey is an ed25519.PublicKey or a *ecdsa.PublicKey on P-256.
	PublicKey crypto.PublicKey
	// NotBefore is the first moment the key may sign.
	NotBefore time.Time
	// NotAfter is the first moment the key may no longer sign.
	NotAfter time.Time
}

// ValidAt reports whether t is within the key's window:
// NotBefore <= t < NotAfter.
func (k IssuerKey) ValidAt(t time.Time) bool {
	return !t.Before(k.NotBefore) && t.Before(k.NotAfter)
}

// Member returns the member with the given division code, and whether
// the list has it.
func (l *List) Member(division string) (Member, bool) {
	if l == nil {
		return Member{}, false
	}
	if l.index != nil {
		i, ok := l.index[division]
		if !ok {
			return Member{}, false
		}
		return l.Members[i], true
	}
	for _, m := range l.Members {
		if m.Division == division {
			return m, true
		}
	}
	return Member{}, false
}

// Key returns the public key kid of member division for a credential
// signed at time at. It fails with an error wrapping ErrUnknownMember when
// the division is not a member, ErrUnknownKey when the member has no key
// kid, and ErrKeyNotValid when at is outside the key's window.
func (l *List) Key(division, kid string, at time.Time) (crypto.PublicKey, error) {
	m, ok := l.Member(division)
	if !ok {
		return nil, fmt.Errorf("%w: division %s is not a member of the trust list", ErrUnknownMember, division)
	}
	for _, k := range m.Keys {
		if k.KID != kid {
			continue
		}
		if !k.ValidAt(at) {
			return nil, fmt.Errorf("%w: key %s of %s may sign from %s until %s, not at %s",
				ErrKeyNotValid, kid, division, formatTime(k.NotBefore), formatTime(k.NotAfter), formatTime(at))
		}
		return k.PublicKey, nil
	}
	return nil, fmt.Errorf("%w: member %s has no key %s in the trust list", ErrUnknownKey, division, kidText(kid))
}

// kidText quotes a kid that is not 16 hex digits, which may come from
// anywhere.
func kidText(kid string) string {
	if len(kid) == 16 && strings.Trim(kid, "0123456789abcdef") == "" {
		return kid
	}
	return strconv.QuoteToASCII(truncate(kid, 40))
}

// cst is China Standard Time, in which errors give times.
var cst = time.FixedZone("CST", 8*60*60)

// formatTime gives t in China Standard Time to the second.
func formatTime(t time.Time) string {
	return t.In(cst).Format("2006-01-02 15:04:05 MST")
}

// normalize returns a copy of l ready to be signed: members in division
// order, keys in not-before order, times in UTC truncated to the second,
// and empty kids and algorithms worked out from the keys. It checks the
// result as Verify would.
func (l *List) normalize() (*List, error) {
	if l == nil {
		return nil, errors.New("no list")
	}
	n := &List{
		Sequence:  l.Sequence,
		IssuedAt:  seconds(l.IssuedAt),
		ExpiresAt: seconds(l.ExpiresAt),
		Members:   make([]Member, len(l.Members)),
	}
	for i, m := range l.Members {
		m.Keys = slices.Clone(m.Keys)
		for j := range m.Keys {
			k := &m.Keys[j]
			k.NotBefore, k.NotAfter = seconds(k.NotBefore), seconds(k.NotAfter)
			if k.KID == "" && k.PublicKey != nil {
				kid, err := credential.KID(k.PublicKey)
				if err != nil {
					return nil, fmt.Errorf("member %s, key %d: %w", m.Division, j+1, err)
				}
				k.KID = kid
			}
			if k.Algorithm == "" {
				k.Algorithm = algorithmOf(k.PublicKey)
			}
		}
		sortKeys(m.Keys)
		n.Members[i] = m
	}
	sortMembers(n.Members)
	if err := n.check(); err != nil {
		return nil, err
	}
	return n, nil
}

// sortMembers puts members in division order.
func sortMembers(members []Member) {
	slices.SortStableFunc(members, func(a, b Member) int { return strings.Compare(a.Division, b.Division) })
}

// sortKeys puts keys in not-before order, then kid order.
func sortKeys(keys []IssuerKey) {
	slices.SortStableFunc(keys, func(a, b IssuerKey) int {
		if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
			return c
		}
		return strings.Compare(a.KID, b.KID)
	})
}

// seconds returns t in UTC without its fraction of a second.
func seconds(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Unix(t.Unix(), 0).UTC()
}

// algorithmOf returns the algorithm suiting pub, or "".
func algorithmOf(pub crypto.PublicKey) string {
	switch pub.(type) {
	case ed25519.PublicKey:
		return AlgorithmEdDSA
	case *ecdsa.PublicKey:
		return AlgorithmES256
	}
	return ""
}

// check reports the first rule l breaks, and builds its index. The
// error wraps ErrInvalid.
func (l *List) check() error {
	if err := l.checkContent(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func (l *List) checkContent() error {
	switch {
	case l.Sequence == 0:
		return errors.New("the sequence is 0; it starts at 1")
	case l.IssuedAt.IsZero():
		return errors.New("issued_at is missing")
	case l.ExpiresAt.IsZero():
		return errors.New("expires_at is missing")
	case !l.IssuedAt.Before(l.ExpiresAt):
		return fmt.Errorf("expires_at %s is not after issued_at %s", formatTime(l.ExpiresAt), formatTime(l.IssuedAt))
	case len(l.Members) == 0:
		return errors.New("the list has no members")
	}
	index := make(map[string]int, len(l.Members))
	kids := map[string]string{} // kid → division
	for i, m := range l.Members {
		if err := checkMember(m); err != nil {
			return fmt.Errorf("member %d (%s): %w", i+1, quoteField(m.Division), err)
		}
		if _, dup := index[m.Division]; dup {
			return fmt.Errorf("division %s is listed twice", m.Division)
		}
		index[m.Division] = i
		for _, k := range m.Keys {
			if other, dup := kids[k.KID]; dup {
				if other == m.Division {
					return fmt.Errorf("member %s lists key %s twice", m.Division, k.KID)
				}
				return fmt.Errorf("key %s is listed for both %s and %s", k.KID, other, m.Division)
			}
			kids[k.KID] = m.Division
		}
	}
	l.index = index
	return nil
}

// CheckMember reports the first rule of the format that m breaks, as
// Verify would, but for duplicates across members; m's keys must have
// their KID and Algorithm set.
func CheckMember(m Member) error {
	if err := checkMember(m); err != nil {
		return fmt.Errorf("%w: member %s: %w", ErrInvalid, quoteField(m.Division), err)
	}
	kids := map[string]bool{}
	for _, k := range m.Keys {
		if kids[k.KID] {
			return fmt.Errorf("%w: member %s lists key %s twice", ErrInvalid, m.Division, k.KID)
		}
		kids[k.KID] = true
	}
	return nil
}

// checkMember reports the first rule m breaks.
func checkMember(m Member) error {
	if err := CheckDivision(m.Division, m.Province); err != nil {
		return err
	}
	if err := checkName(m.Name); err != nil {
		return err
	}
	if err := CheckEndpoint(m.Endpoint); err != nil {
		return err
	}
	if len(m.Keys) == 0 {
		return errors.New("no issuer keys")
	}
	for j, k := range m.Keys {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("key %d: %w", j+1, err)
		}
	}
	return nil
}

// CheckDivision reports whether code may be a member with the given
// province: code is six digits, province is the code of the province-level
// division of the shipped table (package division) containing it, and
// code, if the table has it, is a county-level division. A code the table
// does not have is accepted, so that a node whose table is older than the
// federation still takes the list; permitctl trust add requires it.
func CheckDivision(code, province string) error {
	if !division.IsCode(code) {
		return fmt.Errorf("division %s is not a six-digit code", quoteField(code))
	}
	if d, ok := division.Lookup(code); ok && !d.CanIssue() {
		return fmt.Errorf("division %s %s is a %s, not a county-level division that issues permits", code, d.Name, d.Level)
	}
	want := code[:2] + "0000"
	p, ok := division.Lookup(want)
	if !ok || p.Level != division.Province {
		return fmt.Errorf("division %s is not in a province of the Yangtze River Delta", code)
	}
	if province != want {
		return fmt.Errorf("province is %s, but division %s is in %s %s", quoteField(province), code, want, p.Name)
	}
	return nil
}

// checkName reports whether s is a usable member name: 1 to 64
// characters of valid UTF-8, without control characters or surrounding
// spaces.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("the name is empty")
	case !utf8.ValidString(s):
		return errors.New("the name is not valid UTF-8")
	case utf8.RuneCountInString(s) > maxNameLength:
		return fmt.Errorf("the name is longer than %d characters", maxNameLength)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("the name %s has surrounding spaces", quoteField(s))
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("the name %s holds a control character", quoteField(s))
	}
	return nil
}

// CheckEndpoint reports whether s is host:port: a DNS name or an IP
// address (IPv6 in brackets) and a port from 1 to 65535, and nothing else
// (no scheme, no path).
func CheckEndpoint(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("endpoint %s is not host:port", quoteField(s))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || port[0] == '0' {
		return fmt.Errorf("endpoint %s: port %s is not a number from 1 to 65535", quoteField(s), quoteField(port))
	}
	if net.ParseIP(host) != nil {
		if strings.Contains(host, ":") && !strings.HasPrefix(s, "[") {
			return fmt.Errorf("endpoint %s: an IPv6 address goes in brackets", quoteField(s))
		}
		return nil
	}
	if !isHostname(host) {
		return fmt.Errorf("endpoint %s: %s is neither a host name nor an IP address", quoteField(s), quoteField(host))
	}
	return nil
}

// isHostname reports whether s is a DNS name: dot-separated labels of
// letters, digits and inner hyphens, at most 63 characters each and 253 in
// all, a trailing dot allowed.
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkKey reports the first rule k breaks.
func checkKey(k IssuerKey) error {
	if k.PublicKey == nil {
		return errors.New("the public key is missing")
	}
	kid, err := credential.KID(k.PublicKey)
	if err != nil {
		return err
	}
	switch {
	case k.KID != kid:
		return fmt.Errorf("kid is %s, but the key's key id is %s", kidText(k.KID), kid)
	case k.Algorithm != AlgorithmEdDSA && k.Algorithm != AlgorithmES256:
		return fmt.Errorf("key %s: algorithm %s is not %s or %s", kid, quoteField(k.Algorithm), AlgorithmEdDSA, AlgorithmES256)
	case k.Algorithm != algorithmOf(k.PublicKey):
		return fmt.Errorf("key %s: algorithm %s does not suit a %s key", kid, k.Algorithm, algorithmOf(k.PublicKey))
	case k.NotBefore.IsZero():
		return fmt.Errorf("key %s: not_before is missing", kid)
	case k.NotAfter.IsZero():
		return fmt.Errorf("key %s: not_after is missing", kid)
	case !k.NotBefore.Before(k.NotAfter):
		return fmt.Errorf("key %s: not_after %s is not after not_before %s", kid, formatTime(k.NotAfter), formatTime(k.NotBefore))
	}
	return nil
}

// quoteField quotes an unverified string for an error message, shortened
// to 40 characters.
func quoteField(s string) string {
	return strconv.Quote(truncate(s, 40))
}

func truncate(s string, limit int) string {
	if r := []rune(s); len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return s
}
