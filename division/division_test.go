package division

import (
	"slices"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	all := All()
	if len(all) == 0 {
		t.Fatal("empty table")
	}
	seen := map[string]bool{}
	for i, d := range all {
		if !IsCode(d.Code) {
			t.Errorf("code %q is not six digits", d.Code)
		}
		if seen[d.Code] {
			t.Errorf("code %s repeats", d.Code)
		}
		seen[d.Code] = true
		if i > 0 && all[i-1].Code >= d.Code {
			t.Errorf("All() is not in code order at %s", d.Code)
		}
		if d.Name == "" || d.EnglishName == "" || strings.TrimSpace(d.EnglishName) != d.EnglishName {
			t.Errorf("%s has a bad name %q / %q", d.Code, d.Name, d.EnglishName)
		}
		if got, ok := Lookup(d.Code); !ok || got != d {
			t.Errorf("Lookup(%s) = %+v, %v", d.Code, got, ok)
		}
		if !strings.HasPrefix(d.Code, "31") && !strings.HasPrefix(d.Code, "32") &&
			!strings.HasPrefix(d.Code, "33") && !strings.HasPrefix(d.Code, "34") {
			t.Errorf("%s is outside the Delta", d.Code)
		}
		// The code's shape must agree with the level.
		switch d.Level {
		case Province:
			if d.Code[2:] != "0000" {
				t.Errorf("province %s does not end in 0000", d.Code)
			}
		case Prefecture:
			if d.Code[4:] != "00" || d.Code[2:4] == "00" {
				t.Errorf("prefecture %s is not PPCC00", d.Code)
			}
		case County:
			if d.Code[4:] == "00" {
				t.Errorf("county %s ends in 00", d.Code)
			}
		default:
			t.Errorf("%s has level %v", d.Code, d.Level)
		}
		// Every entry hangs under a province and a city in the table.
		if p := d.Province(); p.Level != Province {
			t.Errorf("%s: Province() = %+v", d.Code, p)
		}
		if d.Level != Province || municipality(d.Code) {
			if c := d.City(); c.Code == "" || c.Code[:2] != d.Code[:2] {
				t.Errorf("%s: City() = %+v", d.Code, c)
			}
		}
		if d.CanIssue() != (d.Level == County) {
			t.Errorf("%s: CanIssue() = %v", d.Code, d.CanIssue())
		}
	}
}

func TestAllIsACopy(t *testing.T) {
	a := All()
	a[0].Name = "changed"
	if All()[0].Name == "changed" {
		t.Error("All() exposes the table")
	}
}

func TestLevels(t *testing.T) {
	count := map[Level][]string{}
	cities := map[string]int{}
	for _, d := range All() {
		count[d.Level] = append(count[d.Level], d.Code)
		if d.City().Code == d.Code {
			cities[d.Code[:2]]++
		}
	}
	if want := []string{"310000", "320000", "330000", "340000"}; !slices.Equal(count[Province], want) {
		t.Errorf("provinces = %v, want %v", count[Province], want)
	}
	// Prefecture-level cities, counting Shanghai, whose City() is itself.
	want := map[string]int{"31": 1, "32": 13, "33": 11, "34": 16}
	total := 0
	for p, n := range want {
		if cities[p] != n {
			t.Errorf("province %s0000 has %d prefecture-level cities, want %d", p, cities[p], n)
		}
		total += cities[p]
	}
	if total != 41 || len(count[Prefecture]) != 40 {
		t.Errorf("%d prefecture-level cities (%d Prefecture entries), want 41 (40)", total, len(count[Prefecture]))
	}
	shanghai := 0
	for _, c := range count[County] {
		if strings.HasPrefix(c, "31") {
			shanghai++
		}
	}
	if shanghai != 16 {
		t.Errorf("%d Shanghai districts, want 16", shanghai)
	}
}

func TestRelations(t *testing.T) {
	tests := []struct {
		code, province, city, fullName, authority string
		canIssue                                  bool
	}{
		{"330604", "330000", "330600", "浙江省绍兴市上虞区", "绍兴市公安局上虞区分局", true},
		{"310107", "310000", "310000", "上海市普陀区", "上海市公安局普陀分局", true},
		{"310115", "310000", "310000", "上海市浦东新区", "上海市公安局浦东分局", true},
		{"320583", "320000", "320500", "江苏省苏州市昆山市", "昆山市公安局", true},
		{"330421", "330000", "330400", "浙江省嘉兴市嘉善县", "嘉善县公安局", true},
		{"330110", "330000", "330100", "浙江省杭州市余杭区", "杭州市公安局余杭区分局", true},
		{"340111", "340000", "340100", "安徽省合肥市包河区", "合肥市公安局包河区分局", true},
		{"330600", "330000", "330600", "浙江省绍兴市", "绍兴市公安局", false},
		{"310000", "310000", "310000", "上海市", "上海市公安局", false},
		{"330000", "330000", "", "浙江省", "浙江省公安厅", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			d, ok := Lookup(tt.code)
			if !ok {
				t.Fatalf("Lookup(%s) failed", tt.code)
			}
			if got := d.Province().Code; got != tt.province {
				t.Errorf("Province() = %s, want %s", got, tt.province)
			}
			if got := d.City().Code; got != tt.city {
				t.Errorf("City() = %q, want %q", got, tt.city)
			}
			if got := d.FullName(); got != tt.fullName {
				t.Errorf("FullName() = %s, want %s", got, tt.fullName)
			}
			if got := d.Authority(); got != tt.authority {
				t.Errorf("Authority() = %s, want %s", got, tt.authority)
			}
			if got := d.CanIssue(); got != tt.canIssue {
				t.Errorf("CanIssue() = %v, want %v", got, tt.canIssue)
			}
		})
	}
}

func TestLookupMisses(t *testing.T) {
	for _, code := range []string{"999999", "", "33060", "3306040", " 330604", "310100", "310108", "330682", "110105"} {
		if d, ok := Lookup(code); ok {
			t.Errorf("Lookup(%q) = %+v", code, d)
		}
	}
}

func TestZeroDivision(t *testing.T) {
	var d Division
	if d.Province() != (Division{}) || d.City() != (Division{}) || d.FullName() != "" || d.Authority() != "" || d.CanIssue() {
		t.Error("the zero Division is not inert")
	}
}

func TestLoadRejects(t *testing.T) {
	for name, data := range map[string]string{
		"three columns": "330604\t上虞区\tcounty\n",
		"short code":    "33060\t上虞区\tShangyu District\tcounty\n",
		"repeat":        "330604\t上虞区\tShangyu District\tcounty\n330604\t上虞区\tShangyu District\tcounty\n",
		"no level":      "330604\t上虞区\tShangyu District\tdistrict\n",
		"no name":       "330604\t\tShangyu District\tcounty\n",
	} {
		if _, err := load(data); err == nil {
			t.Errorf("%s: load accepted %q", name, data)
		}
	}
}

func TestLevelString(t *testing.T) {
	if Province.String() != "province" || County.String() != "county" || Level(9).String() != "Level(9)" {
		t.Error("Level.String")
	}
}
