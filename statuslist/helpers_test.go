package statuslist

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

const testIssuer = "330604"

// seeded returns a reproducible source of random bytes.
func seeded(seed byte) *mrand.ChaCha8 {
	return mrand.NewChaCha8([32]byte{seed, 's', 't', 'a', 't', 'u', 's'})
}

// edKey returns a fixed Ed25519 key; seed picks which.
func edKey(seed byte) ed25519.PrivateKey {
	var s [ed25519.SeedSize]byte
	s[0] = seed
	return ed25519.NewKeyFromSeed(s[:])
}

var (
	p256Once sync.Once
	p256Key  *ecdsa.PrivateKey
)

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	p256Once.Do(func() {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		p256Key = k
	})
	return p256Key
}

// testKeys returns the signing keys the round-trip tests run with.
func testKeys(t testing.TB) map[string]crypto.Signer {
	return map[string]crypto.Signer{"Ed25519": edKey(1), "P-256": ecKey(t)}
}

// fill assigns n indices in l with a spread of states, as a real register
// would have them: mostly valid, 1% each of the others. It returns the
// state of every index assigned.
func fill(t testing.TB, l *List, n int, seed byte) map[uint32]State {
	t.Helper()
	r := mrand.New(seeded(seed))
	want := make(map[uint32]State, n)
	for range n {
		i, err := l.Assign()
		if err != nil {
			t.Fatal(err)
		}
		s := Valid
		switch x := r.IntN(100); {
		case x == 0:
			s = Suspended
		case x == 1:
			s = Cancelled
		case x == 2:
			s = Confiscated
		case x == 3:
			s = Superseded
		}
		if err := l.Set(i, s); err != nil {
			t.Fatal(err)
		}
		want[i] = s
	}
	return want
}

// signPayload signs any payload as typ, for tests of what Verify refuses.
func signPayload(t testing.TB, key crypto.Signer, typ string, payload []byte) []byte {
	t.Helper()
	data, err := sign(key, typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
