package citizenid

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestGeneratorDeterministic(t *testing.T) {
	a, b, c := NewGenerator(42), NewGenerator(42), NewGenerator(43)
	var sa, sb, sc []string
	for range 100 {
		sa = append(sa, a.Next())
		sb = append(sb, b.Next())
		sc = append(sc, c.Next())
	}
	if !slices.Equal(sa, sb) {
		t.Error("two generators with seed 42 differ")
	}
	if slices.Equal(sa, sc) {
		t.Error("seeds 42 and 43 give the same numbers")
	}
}

func TestGeneratorNext(t *testing.T) {
	const n = 100_000
	g := NewGenerator(1)
	seen := make(map[string]bool, n)
	sexes := map[Sex]int{}
	provincesSeen := map[string]bool{}
	first, last := day(1950, 1, 1), day(2007, 12, 31)
	for i := range n {
		s := g.Next()
		id, err := Parse(s, today)
		if err != nil {
			t.Fatalf("id %d %s does not parse: %v", i, s, err)
		}
		if id.Number != s {
			t.Fatalf("id %s is not normalised (%s)", s, id.Number)
		}
		if seen[s] {
			t.Fatalf("id %d %s repeats", i, s)
		}
		seen[s] = true
		if id.BirthDate.Before(first) || id.BirthDate.After(last) {
			t.Fatalf("id %s born %s, outside 1950-2007", s, id.BirthDateString())
		}
		sexes[id.Sex]++
		provincesSeen[s[:2]] = true
	}
	if sexes[Male] < n*45/100 || sexes[Female] < n*45/100 {
		t.Errorf("sexes are unbalanced: %v", sexes)
	}
	if len(provincesSeen) != len(provinces) {
		t.Errorf("saw %d province prefixes, want all %d", len(provincesSeen), len(provinces))
	}
}

func TestGeneratorNextWith(t *testing.T) {
	g := NewGenerator(7)
	shanghai := time.FixedZone("CST", 8*3600)
	seen := map[string]bool{}
	for _, tt := range []struct {
		sex   Sex
		birth time.Time
		want  time.Time
	}{
		{Male, day(1990, 1, 2), day(1990, 1, 2)},
		{Female, day(2008, 2, 29), day(2008, 2, 29)},
		{Female, day(1900, 1, 1), day(1900, 1, 1)},
		// The civil date in the time's own location counts.
		{Male, time.Date(2000, 6, 1, 1, 0, 0, 0, shanghai), day(2000, 6, 1)},
	} {
		for range 200 {
			s := g.NextWith(tt.sex, tt.birth)
			id, err := Parse(s, today)
			if err != nil {
				t.Fatalf("NextWith(%v, %v) = %s: %v", tt.sex, tt.birth, s, err)
			}
			if id.Sex != tt.sex || !id.BirthDate.Equal(tt.want) {
				t.Fatalf("NextWith(%v, %v) = %s, parsed as %v %s", tt.sex, tt.birth, s, id.Sex, id.BirthDateString())
			}
			if seen[s] {
				t.Fatalf("NextWith repeated %s", s)
			}
			seen[s] = true
		}
	}
}

func TestGeneratorNextWithPanics(t *testing.T) {
	for name, f := range map[string]func(g *Generator){
		"sex 0":    func(g *Generator) { g.NextWith(0, day(1990, 1, 1)) },
		"year 1e4": func(g *Generator) { g.NextWith(Male, day(10000, 1, 1)) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			f(NewGenerator(1))
		})
	}
}

func TestGeneratorConcurrent(t *testing.T) {
	g := NewGenerator(3)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				s := g.Next()
				mu.Lock()
				if seen[s] {
					t.Errorf("repeat %s", s)
				}
				seen[s] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func BenchmarkGeneratorNext(b *testing.B) {
	g := NewGenerator(1)
	for b.Loop() {
		g.Next()
	}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("11010519491231002X", today); err != nil {
			b.Fatal(err)
		}
	}
}
