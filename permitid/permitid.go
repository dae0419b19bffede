package permitid

import (
	"crypto/rand"
	"fmt"
	"strings"
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
	randomLength   = 12
	alphabet       = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	modulus        = len(alphabet) // M in ISO 7064 MOD M+1,M
)

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

// New returns a fresh permit id for the six-digit division code, with twelve
// random characters from crypto/rand. It fails with an *Error of reason
// FORMAT if division is not six ASCII digits.
func New(division string) (string, error) {
	if len(division) != divisionLength || !allDigits(division) {
		return "", fail(ReasonFormat, "division %q is not six digits", division)
	}
	b := make([]byte, 0, Length)
	b = append(b, division...)
	b = append(b, '-')
	// Rejection sampling: bytes of 252 or more would favour the first
	// characters of the alphabet, 252 being the largest multiple of 36
	// that fits.
	const limit = 256 - 256%modulus
	var buf [2 * randomLength]byte
	for len(b) < divisionLength+1+randomLength {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("permit id: reading random bytes: %w", err)
		}
		for _, r := range buf {
			if int(r) < limit && len(b) < divisionLength+1+randomLength {
				b = append(b, alphabet[int(r)%modulus])
			}
		}
	}
	b = append(b, checkChar(string(b[:divisionLength])+string(b[divisionLength+1:])))
	return string(b), nil
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
