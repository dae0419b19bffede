package statuslist

import (
	"crypto"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/credential"
)

// trust resolves the keys of the test issuers: testIssuer has edKey(1),
// "310115" has edKey(2).
var trust = credential.KeyResolverFunc(func(issuer, kid string) (crypto.PublicKey, bool) {
	for iss, k := range map[string]crypto.Signer{testIssuer: edKey(1), "310115": edKey(2)} {
		if want, _ := credential.KID(k.Public()); iss == issuer && kid == want {
			return k.Public(), true
		}
	}
	return nil, false
})

// node is an issuing node for cache tests.
type node struct {
	list *List
	pub  *Publisher
	clk  *clock
}

func newNode(t *testing.T, issuer string, key crypto.Signer, clk *clock) *node {
	l := New(Options{Rand: seeded(12)})
	p, err := NewPublisher(PublisherConfig{List: l, Key: key, Issuer: issuer, TTL: 6 * time.Hour, Refresh: time.Minute, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &node{l, p, clk}
}

// sync fetches from n into c as a member node would.
func (n *node) sync(t *testing.T, c *Cache, issuer string) error {
	t.Helper()
	data, nm, err := n.pub.Fetch(c.Version(issuer))
	if err != nil {
		t.Fatal(err)
	}
	return c.Update(issuer, trust, data, nm, n.clk.Now())
}

func TestCacheStatus(t *testing.T) {
	clk := &clock{now: t0}
	n := newNode(t, testIssuer, edKey(1), clk)
	valid, _ := n.list.Assign()
	cancelled, _ := n.list.Assign()
	n.list.Set(valid, Valid)
	n.list.Set(cancelled, Cancelled)
	reserved, _ := n.list.Assign()
	c := NewCache()
	const maxAge = time.Hour

	if s, age, fresh := c.Status(testIssuer, valid, clk.Now(), maxAge); s != Unused || age != 0 || fresh {
		t.Fatalf("empty cache: %v %v %v", s, age, fresh)
	}
	if err := n.sync(t, c, testIssuer); err != nil {
		t.Fatal(err)
	}
	type query struct {
		name    string
		advance time.Duration
		sync    bool // fetch conditionally before asking
		index   uint32
		state   State
		age     time.Duration
		fresh   bool
	}
	queries := []query{
		{name: "valid, just fetched", index: valid, state: Valid, age: 0, fresh: true},
		{name: "cancelled", index: cancelled, state: Cancelled, fresh: true},
		{name: "reserved reads unused", index: reserved, state: Unused, fresh: true},
		{name: "beyond the list reads unused", index: 1 << 30, state: Unused, fresh: true},
		{name: "40 minutes on", advance: 40 * time.Minute, index: valid, state: Valid, age: 40 * time.Minute, fresh: true},
		{name: "at max age", advance: 20 * time.Minute, index: valid, state: Valid, age: time.Hour, fresh: true},
		{name: "past max age", advance: time.Second, index: cancelled, state: Cancelled, age: time.Hour + time.Second, fresh: false},
		{name: "not modified renews", sync: true, index: valid, state: Valid, age: 0, fresh: true},
		{name: "renewed age grows again", advance: 10 * time.Minute, index: valid, state: Valid, age: 10 * time.Minute, fresh: true},
	}
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			clk.Advance(q.advance)
			if q.sync {
				if err := n.sync(t, c, testIssuer); err != nil {
					t.Fatal(err)
				}
			}
			s, age, fresh := c.Status(testIssuer, q.index, clk.Now(), maxAge)
			if s != q.state || age != q.age || fresh != q.fresh {
				t.Errorf("Status = %v %v %v, want %v %v %v", s, age, fresh, q.state, q.age, q.fresh)
			}
		})
	}
	// The issuer's clock a little ahead: age is 0, not negative.
	if _, age, fresh := c.Status(testIssuer, valid, clk.Now().Add(-time.Hour), maxAge); age != 0 || !fresh {
		t.Errorf("before AsOf: age %v fresh %v", age, fresh)
	}
	// Past the signed expiry nothing is fresh, whatever maxAge.
	e, _ := c.Entry(testIssuer)
	if _, _, fresh := c.Status(testIssuer, valid, e.ValidUntil, 100*time.Hour); fresh {
		t.Error("fresh at ValidUntil")
	}
	if _, _, fresh := c.Status(testIssuer, valid, e.ValidUntil.Add(-time.Second), 100*time.Hour); !fresh {
		t.Error("not fresh just before ValidUntil")
	}
}

func TestCacheUpdate(t *testing.T) {
	clk := &clock{now: t0}
	a := newNode(t, testIssuer, edKey(1), clk)
	b := newNode(t, "310115", edKey(2), clk)
	i, _ := a.list.Assign()
	a.list.Set(i, Valid)

	c := NewCache()
	// A not-modified answer with nothing cached.
	v := a.list.Version()
	nm, _, _ := a.pub.Fetch(0)
	nm, isNM, _ := a.pub.Fetch(v)
	if !isNM {
		t.Fatal("no not-modified answer")
	}
	if err := c.Update(testIssuer, trust, nm, true, clk.Now()); !errors.Is(err, ErrMismatch) {
		t.Fatalf("not-modified with nothing cached: %v, want ErrMismatch", err)
	}
	if err := a.sync(t, c, testIssuer); err != nil {
		t.Fatal(err)
	}
	old, _, _ := a.pub.Fetch(0)
	first, _ := c.Entry(testIssuer)

	// The list changes and the cache follows.
	clk.Advance(time.Minute)
	a.list.Set(i, Cancelled)
	if err := a.sync(t, c, testIssuer); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := c.Status(testIssuer, i, clk.Now(), time.Hour); s != Cancelled {
		t.Fatalf("after the change: %v", s)
	}
	cur, _ := c.Entry(testIssuer)
	bList, _, _ := b.pub.Fetch(0)
	sameSecond, _ := New(Options{Version: cur.Snapshot.Version - 1}).Publish(edKey(1), testIssuer, cur.Snapshot.IssuedAt, time.Hour)

	tests := []struct {
		name   string
		issuer string
		data   []byte
		nm     bool
		keys   credential.KeyResolver
		want   error
	}{
		{"the old list replayed", testIssuer, old, false, trust, ErrStale},
		{"an older version signed in the same second", testIssuer, sameSecond, false, trust, ErrStale},
		{"the old version's not-modified answer", testIssuer, nm, true, trust, ErrMismatch},
		{"another member's list as ours", testIssuer, bList, false, trust, ErrUnknownKey},
		{"a list under the wrong flag", testIssuer, old, true, trust, ErrFormat},
		{"another member's list, cached apart", "310115", bList, false,
			credential.KeyResolverFunc(func(string, string) (crypto.PublicKey, bool) { return edKey(2).Public(), true }), nil},
		{"no resolver", testIssuer, old, false, nil, ErrUnknownKey},
		{"garbage", testIssuer, []byte("not a list"), false, trust, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Update(tt.issuer, tt.keys, tt.data, tt.nm, clk.Now())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Update = %v, want %v", err, tt.want)
			}
			if e, _ := c.Entry(testIssuer); e != cur {
				t.Error("a refused update changed the cache")
			}
		})
	}
	// A member's key that names another division is refused.
	forged, _ := New(Options{}).Publish(edKey(2), testIssuer, clk.Now(), time.Hour)
	if err := c.Update("310115", trust, forged, false, clk.Now()); !errors.Is(err, ErrIssuer) {
		t.Errorf("310115's key signing for %s: %v, want ErrIssuer", testIssuer, err)
	}
	if first.Snapshot.Version == cur.Snapshot.Version || !cur.Fetched.Equal(clk.Now()) {
		t.Errorf("entries %+v then %+v", first, cur)
	}
	if c.Version(testIssuer) != a.list.Version() || c.Version("999999") != 0 {
		t.Errorf("Version = %d, list at %d", c.Version(testIssuer), a.list.Version())
	}

	// The same list signed again keeps the freshness a later answer gave.
	clk.Advance(time.Minute)
	if err := a.sync(t, c, testIssuer); err != nil { // not modified, renews AsOf
		t.Fatal(err)
	}
	renewed, _ := c.Entry(testIssuer)
	if !renewed.AsOf.Equal(clk.Now()) {
		t.Fatalf("AsOf %v, want %v", renewed.AsOf, clk.Now())
	}
	again, _, _ := a.pub.Fetch(0) // the list signed a minute ago, same version
	if err := c.Update(testIssuer, trust, again, false, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Entry(testIssuer); !e.AsOf.Equal(renewed.AsOf) || !e.ValidUntil.Equal(renewed.ValidUntil) {
		t.Errorf("re-fetch of the same list moved AsOf %v -> %v", renewed.AsOf, e.AsOf)
	}
}

// TestCacheConcurrent updates and queries at once, for the race detector.
func TestCacheConcurrent(t *testing.T) {
	clk := &clock{now: t0}
	n := newNode(t, testIssuer, edKey(1), clk)
	fill(t, n.list, 100, 13)
	c := NewCache()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range 50 {
				if g == 0 {
					i, _ := n.list.Assign()
					n.list.Set(i, Valid)
				}
				data, nm, err := n.pub.Fetch(c.Version(testIssuer))
				if err != nil {
					t.Error(err)
					return
				}
				// Concurrent fetchers may race each other to a newer
				// version; stale and mismatched answers are expected.
				err = c.Update(testIssuer, trust, data, nm, clk.Now())
				if err != nil && !errors.Is(err, ErrMismatch) && !errors.Is(err, ErrStale) {
					t.Error(err)
				}
				c.Status(testIssuer, uint32(k), clk.Now(), time.Hour)
			}
		})
	}
	wg.Wait()
}
