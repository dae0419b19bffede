package command

import "testing"

// TestRateFlag: --rate takes N/s, N/min (or N/m) and N/h, refuses
// anything else, and rates are printed in the unit that reads best.
func TestRateFlag(t *testing.T) {
	for _, tc := range []struct {
		in        string
		perSecond float64
		shown     string
	}{
		{"5/s", 5, "5/s"},
		{"0.5/s", 0.5, "30/min"},
		{"30/min", 0.5, "30/min"},
		{"2/m", 2.0 / 60, "2/min"},
		{"2/h", 2.0 / 3600, "2/h"},
		{"7200/h", 2, "2/s"},
	} {
		var got float64
		f := rateFlag{perSecond: &got}
		if err := f.Set(tc.in); err != nil || got != tc.perSecond || f.String() != tc.shown {
			t.Errorf("--rate %s: %v per second (%q), %v; want %v (%q)", tc.in, got, f.String(), err, tc.perSecond, tc.shown)
		}
	}
	for _, bad := range []string{"", "5", "5/d", "-1/s", "0/s", "x/s", "NaN/s"} {
		var got float64
		if err := (rateFlag{perSecond: &got}).Set(bad); err == nil {
			t.Errorf("--rate %q accepted as %v", bad, got)
		}
	}
}
