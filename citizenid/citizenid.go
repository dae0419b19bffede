package citizenid

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Reason codes carried by *Error. They are stable, UPPER_SNAKE_CASE strings
// that the server passes on as google.rpc.BadRequest reasons.
const (
	// ReasonEmpty is used when the input is empty or only spaces.
	ReasonEmpty = "EMPTY"
	// ReasonLength is used when the input is not 18 characters long.
	ReasonLength = "LENGTH"
	// ReasonFormat is used when one of the first 17 characters is not a digit
	// or the 18th is not a digit or X.
	ReasonFormat = "FORMAT"
	// ReasonProvince is used when the first two digits are not a mainland
	// province-level code.
	ReasonProvince = "PROVINCE_UNKNOWN"
	// ReasonBirthDate is used when positions 7-14 are not a real calendar
	// date, or the date is before 1900-01-01.
	ReasonBirthDate = "BIRTH_DATE_INVALID"
	// ReasonBirthInFuture is used when the birth date is after today.
	ReasonBirthInFuture = "BIRTH_DATE_IN_FUTURE"
	// ReasonCheckDigit is used when the 18th character is not the check
	// character computed from the first 17 digits.
	ReasonCheckDigit = "CHECK_DIGIT_MISMATCH"
)

// Length is the number of characters in a citizen id number.
const Length = 18

// legacyLength is the number of digits in a GB 11643-1989 number.
const legacyLength = 15

// earliestBirth is the earliest birth date Parse accepts; see the package
// documentation for why it is stricter than GB 11643.
var earliestBirth = time.Date(1900, time.January, 1, 0, 0, 0, 0, time.UTC)

// Error is a validation failure. Reason is one of the Reason constants and
// Detail a sentence for people, such as "check character should be X, got 3".
type Error struct {
	Reason string
	Detail string
}

// Error returns the detail prefixed with what was being validated.
func (e *Error) Error() string {
	return "citizen id number: " + e.Detail
}

func fail(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Sex is the sex encoded in the sequence code.
type Sex int

// The two values of Sex; an odd 17th digit means Male.
const (
	Male   Sex = 1
	Female Sex = 2
)

// String returns "male", "female" or "Sex(n)" for other values.
func (s Sex) String() string {
	switch s {
	case Male:
		return "male"
	case Female:
		return "female"
	}
	return fmt.Sprintf("Sex(%d)", int(s))
}

// ID is a parsed, valid citizen id number.
type ID struct {
	// Number is the normalised number: 18 characters, with x upper-cased.
	Number string
	// Address is positions 1-6: the hukou county code when the number was
	// assigned. It may be a retired code.
	Address string
	// BirthDate is the civil date of birth at 00:00 UTC.
	BirthDate time.Time
	// Sex is Male when the 17th digit is odd, Female when it is even.
	Sex Sex
}

// provinces holds the mainland province-level prefixes: 11-15, 21-23, 31-37,
// 41-46, 50-54 and 61-65.
var provinces = func() map[string]bool {
	m := make(map[string]bool)
	for _, r := range [][2]int{{11, 15}, {21, 23}, {31, 37}, {41, 46}, {50, 54}, {61, 65}} {
		for p := r[0]; p <= r[1]; p++ {
			m[fmt.Sprintf("%02d", p)] = true
		}
	}
	return m
}()

// Parse validates s against today and returns the parsed id. Only the year,
// month and day of today matter, taken in today's own location; a birth date
// equal to today is accepted. Surrounding spaces are trimmed and a lower-case
// x is accepted and normalised. Only the two-digit province prefix of the
// address code is checked, so retired county codes are accepted. Birth dates
// before 1900-01-01 are rejected.
//
// On failure Parse returns the zero ID and an *Error.
func Parse(s string, today time.Time) (ID, error) {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return ID{}, fail(ReasonEmpty, "is empty")
	case n != Length:
		return ID{}, fail(ReasonLength, "must be %d characters, got %d", Length, n)
	case len(s) != Length:
		return ID{}, fail(ReasonFormat, "must be 17 digits followed by a digit or X")
	}
	if !allDigits(s[:17]) {
		return ID{}, fail(ReasonFormat, "the first 17 characters must be digits")
	}
	last := s[17]
	if last == 'x' {
		last = 'X'
		s = s[:17] + "X"
	}
	if !isDigit(last) && last != 'X' {
		return ID{}, fail(ReasonFormat, "the 18th character must be a digit or X, got %q", s[17:])
	}
	if !provinces[s[:2]] {
		return ID{}, fail(ReasonProvince, "prefix %s is not a mainland province-level code", s[:2])
	}
	birth, ok := date(s[6:10], s[10:12], s[12:14])
	if !ok {
		return ID{}, fail(ReasonBirthDate, "positions 7-14 (%s) are not a calendar date", s[6:14])
	}
	if birth.Before(earliestBirth) {
		return ID{}, fail(ReasonBirthDate, "birth date %s is before 1900-01-01", birth.Format(time.DateOnly))
	}
	y, m, d := today.Date()
	if birth.After(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) {
		return ID{}, fail(ReasonBirthInFuture, "birth date %s is after today", birth.Format(time.DateOnly))
	}
	want := checkChar(s[:17])
	if last != want {
		return ID{}, fail(ReasonCheckDigit, "check character should be %c, got %c", want, last)
	}
	sex := Female
	if (s[16]-'0')%2 == 1 {
		sex = Male
	}
	return ID{Number: s, Address: s[:6], BirthDate: birth, Sex: sex}, nil
}

// CheckChar returns the ISO 7064 MOD 11-2 check character ('0'-'9' or 'X')
// for the first 17 digits of a number. It fails unless first17 is exactly 17
// ASCII digits.
func CheckChar(first17 string) (byte, error) {
	if len(first17) != 17 || !allDigits(first17) {
		return 0, errors.New("citizenid: check character needs exactly 17 digits")
	}
	return checkChar(first17), nil
}

// weights are 2^(17-i) mod 11 for i = 1..17.
var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// checkChar assumes first17 holds 17 ASCII digits.
func checkChar(first17 string) byte {
	sum := 0
	for i := range 17 {
		sum += int(first17[i]-'0') * weights[i]
	}
	return "10X98765432"[sum%11]
}

// Upgrade15 converts a legacy 15-digit number (GB 11643-1989: address,
// YYMMDD, sequence) to its 18-character form by inserting "19" before the
// year and appending the check character. Surrounding spaces are trimmed. It
// fails with an *Error unless s is 15 digits whose positions 7-12 form a
// calendar date in the 1900s; the result still needs Parse for the other
// checks.
func Upgrade15(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "", fail(ReasonEmpty, "is empty")
	case n != legacyLength:
		return "", fail(ReasonLength, "a legacy number must be %d digits, got %d characters", legacyLength, n)
	case len(s) != legacyLength || !allDigits(s):
		return "", fail(ReasonFormat, "a legacy number must be %d digits", legacyLength)
	}
	first17 := s[:6] + "19" + s[6:]
	if _, ok := date(first17[6:10], first17[10:12], first17[12:14]); !ok {
		return "", fail(ReasonBirthDate, "positions 7-12 (%s) are not a calendar date", s[6:12])
	}
	return first17 + string(checkChar(first17)), nil
}

// Mask returns the number with positions 7-14, the birth date, replaced by
// '*': "330602********123X". A number shorter than 14 characters has every
// character from position 7 on masked.
func (id ID) Mask() string {
	b := []byte(id.Number)
	for i := 6; i < 14 && i < len(b); i++ {
		b[i] = '*'
	}
	return string(b)
}

// BirthDateString returns the birth date as "YYYY-MM-DD".
func (id ID) BirthDateString() string {
	return id.BirthDate.Format(time.DateOnly)
}

// date reads a civil date from digit strings, reporting false when it is not
// a real calendar date.
func date(year, month, day string) (time.Time, bool) {
	y, m, d := atoi(year), atoi(month), atoi(day)
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

// atoi converts a short string of ASCII digits.
func atoi(s string) int {
	n := 0
	for i := range len(s) {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
