package citizenid

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// today is the fixed "today" the tests validate against.
var today = time.Date(2026, time.March, 1, 15, 30, 0, 0, time.UTC)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseValid(t *testing.T) {
	tests := []struct {
		name, in, number, address string
		birth                     time.Time
		sex                       Sex
	}{
		{"GB 11643 example", "11010519491231002X", "11010519491231002X", "110105", day(1949, 12, 31), Female},
		{"lower-case x", "11010519491231002x", "11010519491231002X", "110105", day(1949, 12, 31), Female},
		{"surrounding spaces", " \t34052419800101001X\n", "34052419800101001X", "340524", day(1980, 1, 1), Male},
		{"digit check character", "440524198001010013", "440524198001010013", "440524", day(1980, 1, 1), Male},
		{"male, Shaoxing", "330602199003071238", "330602199003071238", "330602", day(1990, 3, 7), Male},
		{"retired county code 310108", "310108198506150029", "310108198506150029", "310108", day(1985, 6, 15), Female},
		{"earliest birth date", "11010519000101001X", "11010519000101001X", "110105", day(1900, 1, 1), Male},
		{"born today", "110105202603010012", "110105202603010012", "110105", day(2026, 3, 1), Male},
		{"leap day", "110105200002290013", "110105200002290013", "110105", day(2000, 2, 29), Male},
		{"last province 65", "650102199912310029", "650102199912310029", "650102", day(1999, 12, 31), Female},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Parse(tt.in, today)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.in, err)
			}
			want := ID{Number: tt.number, Address: tt.address, BirthDate: tt.birth, Sex: tt.sex}
			if id != want {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, id, want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, in, reason, detail string
	}{
		{"empty", "", ReasonEmpty, ""},
		{"only spaces", "   ", ReasonEmpty, ""},
		{"17 characters", "11010519491231002", ReasonLength, "got 17"},
		{"19 characters", "11010519491231002X0", ReasonLength, "got 19"},
		{"15-digit legacy number", "110105491231002", ReasonLength, ""},
		{"letter in first 17", "1101051949123100AX", ReasonFormat, ""},
		{"18th character Y", "11010519491231002Y", ReasonFormat, "\"Y\""},
		{"X not last", "X10105194912310028", ReasonFormat, ""},
		{"inner space", "110105 9491231002X", ReasonFormat, ""},
		{"full-width digit", "11010519491231002１", ReasonFormat, ""},
		{"province 99", "990105194912310023", ReasonProvince, "99"},
		{"province 00", "000105194912310024", ReasonProvince, ""},
		{"Hong Kong 81", "810000199001010019", ReasonProvince, ""},
		{"province 16", "160105194912310029", ReasonProvince, ""},
		{"Feb 30", "11010519900230001X", ReasonBirthDate, ""},
		{"Feb 29 in 1900", "110105190002290017", ReasonBirthDate, ""},
		{"month 13", "110105199013010018", ReasonBirthDate, ""},
		{"day 00", "110105199001000015", ReasonBirthDate, ""},
		{"born 1880 (valid per GB 11643)", "440524188001010014", ReasonBirthDate, "before 1900-01-01"},
		{"born 1899-12-31", "110105189912310015", ReasonBirthDate, ""},
		{"born 2099", "110105209901010012", ReasonBirthInFuture, "2099-01-01"},
		{"born tomorrow", "110105202603020018", ReasonBirthInFuture, ""},
		{"wrong check digit", "110105194912310023", ReasonCheckDigit, "should be X, got 3"},
		{"check X where 3 belongs", "44052419800101001X", ReasonCheckDigit, "should be 3, got X"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Parse(tt.in, today)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error = %v, want *Error", tt.in, err)
			}
			if e.Reason != tt.reason {
				t.Errorf("Parse(%q) reason = %s (%s), want %s", tt.in, e.Reason, e.Detail, tt.reason)
			}
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("Parse(%q) detail = %q, want it to contain %q", tt.in, e.Detail, tt.detail)
			}
			if e.Detail == "" || !strings.Contains(err.Error(), e.Detail) {
				t.Errorf("Error() = %q does not carry detail %q", err.Error(), e.Detail)
			}
			if id != (ID{}) {
				t.Errorf("Parse(%q) returned %+v with an error, want the zero ID", tt.in, id)
			}
		})
	}
}

// TestParseTodayLocation checks that only the civil date of today counts,
// whatever its location.
func TestParseTodayLocation(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	// 2026-03-02 00:30 in Shanghai is still 2026-03-01 in UTC.
	now := time.Date(2026, time.March, 2, 0, 30, 0, 0, shanghai)
	if _, err := Parse("110105202603020018", now); err != nil {
		t.Errorf("born on today's Shanghai date: %v", err)
	}
	if _, err := Parse("110105202603020018", now.UTC()); err == nil {
		t.Error("born the day after today's UTC date: accepted")
	}
}

func TestCheckChar(t *testing.T) {
	for _, full := range []string{
		"11010519491231002X",
		"440524188001010014",
		"34052419800101001X",
		"440524198001010013",
	} {
		c, err := CheckChar(full[:17])
		if err != nil || c != full[17] {
			t.Errorf("CheckChar(%s) = %q, %v; want %q", full[:17], c, err, full[17])
		}
	}
	for _, bad := range []string{"", "1101051949123100", "110105194912310021", "1101051949123100A", "１１０１０５19491231002"} {
		if _, err := CheckChar(bad); err == nil {
			t.Errorf("CheckChar(%q) succeeded", bad)
		}
	}
}

// TestCheckCharDetectsSingleErrors checks the MOD 11-2 promise: every
// single-digit substitution and adjacent transposition changes the check
// character.
func TestCheckCharDetectsSingleErrors(t *testing.T) {
	const base = "11010519491231002"
	want := checkChar(base)
	for i := range 17 {
		for d := byte('0'); d <= '9'; d++ {
			if d == base[i] {
				continue
			}
			s := base[:i] + string(d) + base[i+1:]
			if checkChar(s) == want {
				t.Errorf("substituting %c at position %d is not detected", d, i+1)
			}
		}
		if i < 16 && base[i] != base[i+1] {
			b := []byte(base)
			b[i], b[i+1] = b[i+1], b[i]
			if checkChar(string(b)) == want {
				t.Errorf("transposing positions %d and %d is not detected", i+1, i+2)
			}
		}
	}
}

func TestUpgrade15(t *testing.T) {
	tests := []struct{ in, want, reason string }{
		{"110105491231002", "11010519491231002X", ""},
		{"340524800101001", "34052419800101001X", ""},
		{"440524800101001", "440524198001010013", ""},
		{" 330602900307123 ", "330602199003071238", ""},
		{"", "", ReasonEmpty},
		{"11010549123100", "", ReasonLength},
		{"11010519491231002X", "", ReasonLength},
		{"11010549123100X", "", ReasonFormat},
		{"110105000229001", "", ReasonBirthDate}, // 1900 was not a leap year
		{"110105491331002", "", ReasonBirthDate},
	}
	for _, tt := range tests {
		got, err := Upgrade15(tt.in)
		if tt.reason == "" {
			if err != nil || got != tt.want {
				t.Errorf("Upgrade15(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if _, err := Parse(got, today); err != nil {
				t.Errorf("Upgrade15(%q) = %q does not parse: %v", tt.in, got, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Reason != tt.reason || got != "" {
			t.Errorf("Upgrade15(%q) = %q, %v; want reason %s", tt.in, got, err, tt.reason)
		}
	}
}

func TestMask(t *testing.T) {
	id, err := Parse("330602199003071238", today)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := id.Mask(), "330602********1238"; got != want {
		t.Errorf("Mask() = %q, want %q", got, want)
	}
	if id.Number != "330602199003071238" {
		t.Errorf("Mask changed the id: %q", id.Number)
	}
	// The server masks stored numbers without parsing them again.
	for in, want := range map[string]string{
		"11010519491231002X": "110105********002X",
		"":                   "",
		"1101":               "1101",
		"110105194":          "110105***",
	} {
		if got := (ID{Number: in}).Mask(); got != want {
			t.Errorf("ID{Number: %q}.Mask() = %q, want %q", in, got, want)
		}
	}
}

func TestBirthDateString(t *testing.T) {
	id, err := Parse("11010519491231002X", today)
	if err != nil {
		t.Fatal(err)
	}
	if got := id.BirthDateString(); got != "1949-12-31" {
		t.Errorf("BirthDateString() = %q", got)
	}
}

func TestSexString(t *testing.T) {
	if Male.String() != "male" || Female.String() != "female" || Sex(0).String() != "Sex(0)" {
		t.Errorf("Sex strings: %s %s %s", Male, Female, Sex(0))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", "440524188001010014", "34052419800101001X",
		"", " ", "110105491231002", "990105194912310023", "11010519900230001X",
		"110105209901010012", "110105194912310023", "11010519491231002１", "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s, today)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" || e.Detail == "" {
				t.Fatalf("Parse(%q) error %v is not a complete *Error", s, err)
			}
			if id != (ID{}) {
				t.Fatalf("Parse(%q) failed but returned %+v", s, id)
			}
			return
		}
		c, err := CheckChar(id.Number[:17])
		if err != nil || c != id.Number[17] {
			t.Fatalf("Parse(%q) accepted %q but CheckChar = %q, %v", s, id.Number, c, err)
		}
		if m := id.Mask(); len(m) != Length || m[:6] != id.Number[:6] || m[14:] != id.Number[14:] {
			t.Fatalf("Mask() of %q = %q", id.Number, m)
		}
		if again, err := Parse(id.Number, today); err != nil || again != id {
			t.Fatalf("normalised %q re-parses to %+v, %v", id.Number, again, err)
		}
		if id.BirthDate.Before(earliestBirth) || id.BirthDate.After(today) {
			t.Fatalf("Parse(%q) accepted birth date %s", s, id.BirthDateString())
		}
	})
}
