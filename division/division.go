package division

import (
	"bufio"
	_ "embed"
	"fmt"
	"sort"
	"strings"
)

// Level is the administrative level of a division.
type Level int

// The three levels in the table.
const (
	Province   Level = 1 // 省 or 直辖市
	Prefecture Level = 2 // 地级市
	County     Level = 3 // 市辖区, 县 or 县级市
)

// String returns "province", "prefecture", "county" or "Level(n)"; the
// first three are also the spellings used in divisions.tsv.
func (l Level) String() string {
	switch l {
	case Province:
		return "province"
	case Prefecture:
		return "prefecture"
	case County:
		return "county"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Division is one entry of the table. The zero Division stands for "none".
type Division struct {
	Code        string // six digits, e.g. "330604"
	Name        string // e.g. "上虞区"
	EnglishName string // e.g. "Shangyu District"
	Level       Level
}

//go:embed divisions.tsv
var tsv string

// table holds the entries in code order; byCode indexes it.
var table, byCode = mustLoad(tsv)

// mustLoad parses the embedded table; a malformed table is a build mistake,
// so it panics.
func mustLoad(data string) ([]Division, map[string]Division) {
	list, err := load(data)
	if err != nil {
		panic("division: divisions.tsv: " + err.Error())
	}
	m := make(map[string]Division, len(list))
	for _, d := range list {
		m[d.Code] = d
	}
	return list, m
}

// load parses tab-separated rows of code, name, english_name and level,
// skipping blank lines, # comments and the header row.
func load(data string) ([]Division, error) {
	levels := map[string]Level{"province": Province, "prefecture": Prefecture, "county": County}
	var list []Division
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: %d columns, want 4", n, len(f))
		}
		if f[0] == "code" {
			continue
		}
		d := Division{Code: f[0], Name: f[1], EnglishName: f[2], Level: levels[f[3]]}
		switch {
		case !IsCode(d.Code):
			return nil, fmt.Errorf("line %d: code %q is not six digits", n, d.Code)
		case seen[d.Code]:
			return nil, fmt.Errorf("line %d: code %s repeats", n, d.Code)
		case d.Name == "" || d.EnglishName == "":
			return nil, fmt.Errorf("line %d: code %s has an empty name", n, d.Code)
		case d.Level == 0:
			return nil, fmt.Errorf("line %d: unknown level %q", n, f[3])
		}
		seen[d.Code] = true
		list = append(list, d)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Code < list[j].Code })
	return list, nil
}

// IsCode reports whether s is formed like a division code: six ASCII
// digits. It does not say whether the code is in the table (Lookup does).
func IsCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Lookup returns the division with the given six-digit code, and whether the
// table holds it.
func Lookup(code string) (Division, bool) {
	d, ok := byCode[code]
	return d, ok
}

// All returns every division in code order. The slice is a copy.
func All() []Division {
	return append([]Division(nil), table...)
}

// municipality reports whether the province prefix is a municipality
// (直辖市), whose province-level entry is also its prefecture-level one.
func municipality(code string) bool {
	switch code[:2] {
	case "11", "12", "31", "50":
		return true
	}
	return false
}

// Province returns the province-level division containing d (for 330604,
// 330000 浙江省), or the zero Division if d is zero or its province is not in
// the table.
func (d Division) Province() Division {
	if len(d.Code) != 6 {
		return Division{}
	}
	p, _ := Lookup(d.Code[:2] + "0000")
	return p
}

// City returns the prefecture-level division containing d: 330600 绍兴市 for
// 330604, d itself for a prefecture city, and 310000 上海市 for Shanghai and
// its districts. It returns the zero Division for a province that is not a
// municipality, or when the city is not in the table.
func (d Division) City() Division {
	if len(d.Code) != 6 {
		return Division{}
	}
	if municipality(d.Code) {
		return d.Province()
	}
	if d.Level == Province {
		return Division{}
	}
	c, _ := Lookup(d.Code[:4] + "00")
	return c
}

// FullName returns the name with its province and city in front:
// "浙江省绍兴市上虞区", "上海市普陀区", "浙江省绍兴市", "浙江省".
func (d Division) FullName() string {
	var b strings.Builder
	last := ""
	for _, p := range []Division{d.Province(), d.City(), d} {
		if p.Code != "" && p.Code != last {
			b.WriteString(p.Name)
			last = p.Code
		}
	}
	return b.String()
}

// Authority returns the conventional name of the public-security bureau for
// d:
//
//   - a district of a prefecture city: "<city>公安局<district>分局"
//     (绍兴市公安局上虞区分局);
//   - a Shanghai district: "上海市公安局<name without 区 or 新区>分局"
//     (上海市公安局普陀分局, 上海市公安局浦东分局);
//   - a county or county-level city: "<name>公安局" (嘉善县公安局, 昆山市公安局);
//   - a prefecture city or Shanghai: "<name>公安局" (绍兴市公安局);
//   - a province: "<name>公安厅" (浙江省公安厅).
//
// It returns "" for the zero Division.
func (d Division) Authority() string {
	switch {
	case d.Code == "":
		return ""
	case d.Level == County && strings.HasSuffix(d.Name, "区"):
		city := d.City()
		if municipality(d.Code) {
			short := strings.TrimSuffix(strings.TrimSuffix(d.Name, "新区"), "区")
			return city.Name + "公安局" + short + "分局"
		}
		return city.Name + "公安局" + d.Name + "分局"
	case d.Level == Province && !municipality(d.Code):
		return d.Name + "公安厅"
	default:
		return d.Name + "公安局"
	}
}

// CanIssue reports whether a node may use d as its issuing division: only
// county-level entries (districts, counties and county-level cities) may.
func (d Division) CanIssue() bool {
	return d.Level == County
}
