package citizenid

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Generator makes synthetic, valid-looking citizen id numbers for tests,
// demos and benchmarks. The numbers are random, never taken from real people,
// though one may coincide with a real number by chance. A Generator is safe
// for concurrent use and never returns the same number twice.
type Generator struct {
	mu     sync.Mutex
	rng    *rand.Rand
	issued map[string]struct{}
}

// Birth dates drawn by Next lie in [genFirst, genLast].
var (
	genFirst = time.Date(1950, time.January, 1, 0, 0, 0, 0, time.UTC)
	genLast  = time.Date(2007, time.December, 31, 0, 0, 0, 0, time.UTC)
)

// maxAttempts bounds the retries for a fresh number; it is only reached when
// NextWith has nearly exhausted the numbers for one sex and birth date.
const maxAttempts = 10000

// provinceList is the sorted keys of provinces, for deterministic draws.
var provinceList = func() []string {
	l := make([]string, 0, len(provinces))
	for p := range provinces {
		l = append(l, p)
	}
	sort.Strings(l)
	return l
}()

// NewGenerator returns a Generator whose sequence of numbers is determined by
// seed (math/rand/v2 PCG).
func NewGenerator(seed uint64) *Generator {
	return &Generator{
		rng:    rand.New(rand.NewPCG(seed, 0x65706572_6d697473)), // "epermits"
		issued: make(map[string]struct{}),
	}
}

// Next returns a new valid number with a random sex, a birth date between
// 1950-01-01 and 2007-12-31, a mainland province prefix and a plausible
// six-digit address code under it.
func (g *Generator) Next() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	days := int(genLast.Sub(genFirst).Hours()/24) + 1
	return g.fresh(func() (Sex, time.Time) {
		sex := Male + Sex(g.rng.IntN(2))
		return sex, genFirst.AddDate(0, 0, g.rng.IntN(days))
	})
}

// NextWith returns a new valid-looking number with the given sex and birth
// date (its year, month and day in its own location), for tests that need a
// known age. For the result to pass Parse the birth date must be on or after
// 1900-01-01 and not after the day Parse is given. NextWith panics if sex is
// neither Male nor Female, if the year is outside 0-9999, or if the numbers
// for that sex and birth date are all but used up.
func (g *Generator) NextWith(sex Sex, birth time.Time) string {
	if sex != Male && sex != Female {
		panic(fmt.Sprintf("citizenid: NextWith: invalid sex %d", int(sex)))
	}
	y, m, d := birth.Date()
	if y < 0 || y > 9999 {
		panic(fmt.Sprintf("citizenid: NextWith: birth year %d does not fit in four digits", y))
	}
	b := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fresh(func() (Sex, time.Time) { return sex, b })
}

// fresh draws numbers with the given sex and birth date until it finds one it
// has not issued before. g.mu must be held.
func (g *Generator) fresh(pick func() (Sex, time.Time)) string {
	for range maxAttempts {
		sex, birth := pick()
		n := g.number(sex, birth)
		if _, dup := g.issued[n]; !dup {
			g.issued[n] = struct{}{}
			return n
		}
	}
	panic("citizenid: Generator: no unused number left for this sex and birth date")
}

// number draws an address and a sequence code for the sex and birth date.
func (g *Generator) number(sex Sex, birth time.Time) string {
	province := provinceList[g.rng.IntN(len(provinceList))]
	// A plausible code: a municipality's districts sit directly under
	// PP01; a province's prefectures are numbered PP01, PP02, ...; counties
	// and districts are numbered from 02, since 01 is usually the
	// "市辖区" grouping code.
	prefecture := 1
	switch province {
	case "11", "12", "31", "50":
	default:
		prefecture += g.rng.IntN(5)
	}
	county := 2 + g.rng.IntN(8)
	// Sequence codes 000-999; the last digit is odd for males, even for
	// females.
	seq := g.rng.IntN(500) * 2
	if sex == Male {
		seq++
	}
	first17 := fmt.Sprintf("%s%02d%02d%s%03d", province, prefecture, county, birth.Format("20060102"), seq)
	return first17 + string(checkChar(first17))
}
