package permitid

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Length is the number of characters in a permit id.
const Length = 20

// Reason codes carried by *Error, stable UPPER_SNAKE_CASE strings that the
// server passes on as google.rpc.BadRequest reasons.
const (
	// ReasonEmpty is used when the input is empty or only spaces.
	ReasonEmpty = "EMPTY"
	// ReasonLength is used when the input is not 20 characters long.
	ReasonLength = "LENGTH"
	// ReasonFormat is used when the input is not six digits, a hyphen and
	// 13 characters of 0-9A-Z, and by New for a division that is not six
	// digits.
	ReasonFormat = "FORMAT"
	// ReasonCheckCharacter is used when the last character is not the check
	// character of the rest.
	ReasonCheckCharacter = "CHECK_CHARACTER_MISMATCH"
)

const (
	divisionLength = 6
	bodyLength     = 12 // between the hyphen and the check character
	timeLength     = 8  // the time part, at the start of the body
	randomLength   = bodyLength - timeLength
	alphabet       = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	modulus        = len(alphabet) // M in ISO 7064 MOD M+1,M
)

// The time part counts ticks since epoch; maxTicks, 36 to the power
// timeLength, of them fit, about 89 years (to 2114-05-26).
const (
	tick     = time.Millisecond
	maxTicks = 36 * 36 * 36 * 36 * 36 * 36 * 36 * 36
)

// epoch is the zero of the time part: 2025-01-01 00:00 China Standard Time.
var epoch = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*60*60))

// Error is a failure to make or parse a permit id. Reason is one of the
// Reason constants and Detail a sentence for people.
type Error struct {
	Reason string
	Detail string
}

// Error returns the detail prefixed with what was being validated.
func (e *Error) Error() string {
	return "permit id: " + e.Detail
}

func fail(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// New returns a fresh permit id for the six-digit division code, issued
// now: its time part is the current time and its four other characters are
// random from crypto/rand, never the ones this process gave another id of
// the same millisecond. It fails with an *Error of reason FORMAT if division
// is not six ASCII digits.
func New(division string) (string, error) {
	return newAt(division, time.Now())
}

// recent remembers the ids New made in the latest tick, so that one process
// never makes the same id twice while its clock runs forward.
var recent struct {
	mu   sync.Mutex
	tick string              // the time part of the latest tick
	ids  map[string]struct{} // the random parts made in it
}

// newAt is New issued at t. A t before epoch gives the time part of epoch,
// and one after the last tick the time part holds gives the last.
func newAt(division string, t time.Time) (string, error) {
	if len(division) != divisionLength || !allDigits(division) {
		return "", fail(ReasonFormat, "division %q is not six digits", division)
	}
	b := make([]byte, 0, Length)
	b = append(b, division...)
	b = append(b, '-')
	b = appendTime(b, t)
	tick := string(b[divisionLength+1:])
	for {
		var err error
		if b, err = appendRandom(b[:divisionLength+1+timeLength], randomLength); err != nil {
			return "", err
		}
		if fresh(tick, string(b[divisionLength+1+timeLength:])) {
			break
		}
	}
	b = append(b, checkChar(string(b[:divisionLength])+string(b[divisionLength+1:])))
	return string(b), nil
}

// fresh records the random part r in tick and reports whether it is new
// there. A tick other than the latest one starts afresh.
func fresh(tick, r string) bool {
	recent.mu.Lock()
	defer recent.mu.Unlock()
	if tick != recent.tick || recent.ids == nil {
		recent.tick, recent.ids = tick, make(map[string]struct{})
	}
	if _, ok := recent.ids[r]; ok {
		return false
	}
	recent.ids[r] = struct{}{}
	return true
}

// appendRandom appends n characters of the alphabet drawn uniformly with
// crypto/rand.
func appendRandom(b []byte, n int) ([]byte, error) {
	// Rejection sampling: bytes of 252 or more would favour the first
	// characters of the alphabet, 252 being the largest multiple of 36
	// that fits.
	const limit = 256 - 256%modulus
	var buf [2 * randomLength]byte
	for want := len(b) + n; len(b) < want; {
		if _, err := rand.Read(buf[:]); err != nil {
			return nil, fmt.Errorf("permit id: reading random bytes: %w", err)
		}
		for _, r := range buf {
			if int(r) < limit && len(b) < want {
				b = append(b, alphabet[int(r)%modulus])
			}
		}
	}
	return b, nil
}

// appendTime appends the time part for t: the ticks since epoch in base 36,
// most significant first, padded with zeros to timeLength characters.
func appendTime(b []byte, t time.Time) []byte {
	n := int64(min(max(t.Sub(epoch)/tick, 0), maxTicks-1))
	var part [timeLength]byte
	for i := timeLength - 1; i >= 0; i-- {
		part[i] = alphabet[n%int64(modulus)]
		n /= int64(modulus)
	}
	return append(b, part[:]...)
}

// Parse checks a permit id and returns it normalised together with its
// division. Surrounding spaces are trimmed and lower-case letters are
// upper-cased. On failure it returns empty strings and an *Error whose Reason
// is EMPTY, LENGTH, FORMAT or CHECK_CHARACTER_MISMATCH.
func Parse(id string) (normalised, division string, err error) {
	s := strings.TrimSpace(id)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "", "", fail(ReasonEmpty, "is empty")
	case n != Length:
		return "", "", fail(ReasonLength, "must be %d characters, got %d", Length, n)
	case len(s) != Length:
		return "", "", fail(ReasonFormat, "may hold only digits, letters A-Z and one hyphen")
	}
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	s = string(b)
	if !allDigits(s[:divisionLength]) {
		return "", "", fail(ReasonFormat, "must start with a six-digit division code")
	}
	if s[divisionLength] != '-' {
		return "", "", fail(ReasonFormat, "must have a hyphen after the six-digit division code")
	}
	for _, c := range b[divisionLength+1:] {
		if value(c) < 0 {
			return "", "", fail(ReasonFormat, "after the hyphen may hold only digits and letters A-Z, got %q", c)
		}
	}
	body := s[:divisionLength] + s[divisionLength+1:Length-1]
	if want := checkChar(body); s[Length-1] != want {
		return "", "", fail(ReasonCheckCharacter, "check character should be %c, got %c", want, s[Length-1])
	}
	return s, s[:divisionLength], nil
}

// checkChar returns the ISO 7064 MOD 37,36 check character for s, which must
// hold only characters of alphabet.
func checkChar(s string) byte {
	p := modulus
	for i := range len(s) {
		p = step(p, value(s[i]))
	}
	// The check character c makes (p + c) mod 36 == 1.
	return alphabet[(modulus+1-p)%modulus]
}

// step is one round of the hybrid system: add the character's value modulo
// M (writing 0 as M), double, and reduce modulo M+1.
func step(p, v int) int {
	s := (p + v) % modulus
	if s == 0 {
		s = modulus
	}
	return s * 2 % (modulus + 1)
}

// value returns the character's value, 0-35 for 0-9A-Z, or -1.
func value(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
