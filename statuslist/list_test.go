package statuslist

import (
	"errors"
	"sync"
	"testing"
)

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		size        uint32
		wantVersion uint64
	}{
		{"zero", Options{}, MinSize, 1},
		{"below minimum", Options{Size: 1000}, MinSize, 1},
		{"rounded up", Options{Size: 200_000}, 1 << 18, 1},
		{"power of two kept", Options{Size: 1 << 20}, 1 << 20, 1},
		{"capped", Options{Size: 1<<31 + 5}, MaxSize, 1},
		{"version", Options{Version: 1_780_000_000_000_000}, MinSize, 1_780_000_000_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.opts)
			if l.Size() != tt.size || l.Version() != tt.wantVersion || l.Used() != 0 {
				t.Errorf("size %d version %d used %d, want %d %d 0", l.Size(), l.Version(), l.Used(), tt.size, tt.wantVersion)
			}
		})
	}
}

// TestAssignNeverRepeats assigns past two growths and checks that no index
// comes twice, each is in range, and each stays Unused until Set.
func TestAssignNeverRepeats(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
		n    int
	}{
		{"seeded, through two growths", Options{Rand: seeded(1)}, 200_000},
		{"crypto/rand", Options{}, 20_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.opts)
			seen := make(map[uint32]bool, tt.n)
			for range tt.n {
				i, err := l.Assign()
				if err != nil {
					t.Fatal(err)
				}
				if seen[i] {
					t.Fatalf("index %d assigned twice", i)
				}
				seen[i] = true
				if i >= l.Size() {
					t.Fatalf("index %d, size %d", i, l.Size())
				}
			}
			if got := l.Used(); got != uint32(tt.n) {
				t.Errorf("Used = %d, want %d", got, tt.n)
			}
			for i := range seen {
				if s, err := l.Get(i); err != nil || s != Unused {
					t.Fatalf("Get(%d) = %v, %v; want unused until Set", i, s, err)
				}
			}
		})
	}
}

// TestAssignSpread is a statistical sanity check, made deterministic by a
// seeded source: half a list's indices fall evenly over its 64 slices, and
// come in no order.
func TestAssignSpread(t *testing.T) {
	l := New(Options{Rand: seeded(2)})
	const n = MinSize / 2 // fills the list to the growth threshold, not past it
	const buckets = 64
	var count [buckets]float64
	ascents, prev := 0, uint32(0)
	var sum float64
	for k := range n {
		i, err := l.Assign()
		if err != nil {
			t.Fatal(err)
		}
		count[i/(MinSize/buckets)]++
		sum += float64(i)
		if k > 0 && i > prev {
			ascents++
		}
		prev = i
	}
	if l.Size() != MinSize {
		t.Fatalf("size %d after filling half, want no growth", l.Size())
	}
	// Chi-square with 63 degrees of freedom: mean 63, sd 11.2; 120 is
	// beyond five sd.
	expected := float64(n) / buckets
	chi2 := 0.0
	for _, c := range count {
		chi2 += (c - expected) * (c - expected) / expected
	}
	if chi2 > 120 {
		t.Errorf("chi-square %.1f over %d slices: indices are not spread evenly (%v)", chi2, buckets, count)
	}
	// In random order about half the steps go up (sd about 74).
	if d := ascents - (n-1)/2; d < -400 || d > 400 {
		t.Errorf("%d of %d steps go up: indices come in order", ascents, n-1)
	}
	if mean := sum / n; mean < MinSize*0.49 || mean > MinSize*0.51 {
		t.Errorf("mean index %.0f, want about %d", mean, MinSize/2)
	}
	t.Logf("chi-square %.1f, %d ascents, mean %.0f", chi2, ascents, sum/n)
}

// TestAssignUntilFull fills a list whose growth is capped at its start
// size, which forces the counting path, and checks every index comes once.
func TestAssignUntilFull(t *testing.T) {
	l := New(Options{Rand: seeded(3)})
	l.maxSize = MinSize
	seen := make([]bool, MinSize)
	for range MinSize {
		i, err := l.Assign()
		if err != nil {
			t.Fatalf("after %d: %v", l.Used(), err)
		}
		if seen[i] {
			t.Fatalf("index %d assigned twice", i)
		}
		seen[i] = true
	}
	if _, err := l.Assign(); !errors.Is(err, ErrFull) {
		t.Fatalf("Assign on a full list: %v, want ErrFull", err)
	}
	if err := l.Release(12345); err != nil {
		t.Fatal(err)
	}
	if i, err := l.Assign(); err != nil || i != 12345 {
		t.Fatalf("Assign after Release = %d, %v; want 12345", i, err)
	}
}

func TestGrowth(t *testing.T) {
	l := New(Options{Rand: seeded(4)})
	want := fill(t, l, MinSize/2, 4)
	v := l.Version()
	if l.Size() != MinSize {
		t.Fatalf("size %d at half full, want %d", l.Size(), MinSize)
	}
	i, err := l.Assign()
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() != 2*MinSize || l.Version() != v+1 {
		t.Fatalf("after one more: size %d version %d, want %d %d", l.Size(), l.Version(), 2*MinSize, v+1)
	}
	if want[i] != Unused {
		t.Fatalf("index %d assigned again after growth", i)
	}
	for i, s := range want {
		if got, _ := l.Get(i); got != s {
			t.Fatalf("entry %d is %v after growth, want %v", i, got, s)
		}
	}
	// Half of the new indices land in the new half.
	high := 0
	for range 10_000 {
		i, err := l.Assign()
		if err != nil {
			t.Fatal(err)
		}
		if i >= MinSize {
			high++
		}
	}
	if high < 6_000 {
		t.Errorf("%d of 10000 new indices in the new half, want most (it is nearly all free)", high)
	}
}

func TestSetGet(t *testing.T) {
	l := New(Options{Rand: seeded(5)})
	tests := []struct {
		name    string
		index   uint32
		state   State
		err     error
		changed bool
	}{
		{"valid", 7, Valid, nil, true},
		{"same state again", 7, Valid, nil, false},
		{"suspended", 7, Suspended, nil, true},
		{"odd neighbour", 8, Cancelled, nil, true},
		{"last index", MinSize - 1, Superseded, nil, true},
		{"confiscated", 0, Confiscated, nil, true},
		{"back to valid", 7, Valid, nil, true},
		{"unused refused", 9, Unused, ErrState, false},
		{"reserved code refused", 9, 6, ErrState, false},
		{"code too wide refused", 9, 16, ErrState, false},
		{"out of range", MinSize, Valid, ErrIndex, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := l.Version()
			before, _ := l.Get(tt.index)
			err := l.Set(tt.index, tt.state)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Set = %v, want %v", err, tt.err)
			}
			if got := l.Version(); (got != v) != tt.changed || (tt.changed && got != v+1) {
				t.Errorf("version %d -> %d, changed want %v", v, got, tt.changed)
			}
			got, gerr := l.Get(tt.index)
			switch {
			case tt.err == ErrIndex:
				if !errors.Is(gerr, ErrIndex) {
					t.Errorf("Get = %v, %v; want ErrIndex", got, gerr)
				}
			case tt.err != nil:
				if got != before {
					t.Errorf("entry changed to %v by a refused Set", got)
				}
			case got != tt.state:
				t.Errorf("Get = %v, want %v", got, tt.state)
			}
		})
	}
	// Neighbours in one byte do not disturb each other.
	for i, want := range map[uint32]State{7: Valid, 8: Cancelled, 0: Confiscated, 1: Unused, 6: Unused, MinSize - 1: Superseded, MinSize - 2: Unused} {
		if got, _ := l.Get(i); got != want {
			t.Errorf("entry %d = %v, want %v", i, got, want)
		}
	}
	if l.Used() != 4 {
		t.Errorf("Used = %d, want 4 (Set marks entries used)", l.Used())
	}
}

func TestRelease(t *testing.T) {
	l := New(Options{Rand: seeded(6)})
	i, _ := l.Assign()
	j, _ := l.Assign()
	if err := l.Set(j, Valid); err != nil {
		t.Fatal(err)
	}
	v := l.Version()
	tests := []struct {
		name  string
		index uint32
		err   error
		used  uint32
	}{
		{"reserved entry", i, nil, 1},
		{"again: already free", i, nil, 1},
		{"entry with a state", j, ErrInUse, 1},
		{"out of range", MinSize, ErrIndex, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.Release(tt.index); !errors.Is(err, tt.err) {
				t.Fatalf("Release = %v, want %v", err, tt.err)
			}
			if l.Used() != tt.used || l.Version() != v {
				t.Errorf("used %d version %d, want %d %d", l.Used(), l.Version(), tt.used, v)
			}
		})
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Unused: "unused", Valid: "valid", Suspended: "suspended",
		Cancelled: "cancelled", Confiscated: "confiscated", Superseded: "superseded", 9: "State(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", s, s.String(), want)
		}
	}
	for s := range State(16) {
		if s.Known() != (s <= 5) || s.Final() != (s >= 3 && s <= 5) {
			t.Errorf("%v: Known %v Final %v", s, s.Known(), s.Final())
		}
	}
}

// TestConcurrent runs every kind of call at once, for the race detector.
func TestConcurrent(t *testing.T) {
	l := New(Options{})
	key := edKey(1)
	p, err := NewPublisher(PublisherConfig{List: l, Key: key, Issuer: testIssuer, Refresh: 1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := make(map[uint32]bool)
	for g := range 8 {
		wg.Go(func() {
			for k := range 2000 {
				i, err := l.Assign()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				dup := seen[i]
				seen[i] = true
				mu.Unlock()
				if dup {
					t.Errorf("index %d assigned twice", i)
				}
				if err := l.Set(i, State(1+(g+k)%5)); err != nil {
					t.Error(err)
				}
				if _, err := l.Get(i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 5 {
				if _, _, err := p.Fetch(l.Version()); err != nil {
					t.Error(err)
				}
				if _, err := l.Publish(key, testIssuer, t0, DefaultTTL); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if l.Used() != 16000 {
		t.Errorf("Used = %d, want 16000", l.Used())
	}
}

// TestLoad: Load takes the entries and version given, grows to cover them
// and never shrinks, keeps entries reserved by Assign, and refuses more
// entries than the largest list.
func TestLoad(t *testing.T) {
	l := New(Options{})
	reserved, err := l.Assign()
	if err != nil {
		t.Fatal(err)
	}
	packed := make([]byte, MinSize) // 2*MinSize entries: the list grows
	other := reserved ^ 1           // shares the reserved entry's byte
	set(packed, other, Cancelled)
	set(packed, MinSize+5, Valid)
	if err := l.Load(packed, 77); err != nil {
		t.Fatal(err)
	}
	if l.Size() != 2*MinSize || l.Version() != 77 || l.Used() != 3 {
		t.Fatalf("size %d, version %d, used %d; want %d, 77, 3", l.Size(), l.Version(), l.Used(), 2*MinSize)
	}
	for i, want := range map[uint32]State{other: Cancelled, MinSize + 5: Valid, reserved: Unused} {
		if got, _ := l.Get(i); got != want {
			t.Errorf("entry %d = %v, want %v", i, got, want)
		}
	}
	if err := l.Release(reserved); err != nil || l.Used() != 2 {
		t.Fatalf("Release of the reserved entry: %v, used %d", err, l.Used())
	}
	if err := l.Load(packed[:10], 78); err != nil || l.Size() != 2*MinSize {
		t.Fatalf("a shorter load: %v, size %d; want the size kept", err, l.Size())
	}
	wantUsed := uint32(0)
	if other < 20 {
		wantUsed = 1
	}
	if got, _ := l.Get(MinSize + 5); got != Unused || l.Used() != wantUsed {
		t.Fatalf("entry beyond the shorter load = %v, used %d", got, l.Used())
	}
	if err := l.Load(make([]byte, MaxSize/2+1), 79); !errors.Is(err, ErrIndex) || l.Version() != 78 {
		t.Fatalf("an oversize load: %v, version %d", err, l.Version())
	}
}
