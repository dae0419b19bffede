package statuslist

import (
	"bytes"
	"crypto"
	"errors"
	"io"
	"testing"
	"time"
)

func TestNewPublisherRefuses(t *testing.T) {
	l := New(Options{})
	tests := []struct {
		name string
		cfg  PublisherConfig
	}{
		{"no list", PublisherConfig{Key: edKey(1), Issuer: testIssuer}},
		{"no key", PublisherConfig{List: l, Issuer: testIssuer}},
		{"bad issuer", PublisherConfig{List: l, Key: edKey(1), Issuer: "abc"}},
		{"refresh not below ttl", PublisherConfig{List: l, Key: edKey(1), Issuer: testIssuer, TTL: time.Hour, Refresh: time.Hour}},
		{"negative refresh", PublisherConfig{List: l, Key: edKey(1), Issuer: testIssuer, Refresh: -1}},
		{"ttl below a second", PublisherConfig{List: l, Key: edKey(1), Issuer: testIssuer, TTL: time.Millisecond, Refresh: time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPublisher(tt.cfg); err == nil {
				t.Error("NewPublisher succeeded")
			}
		})
	}
}

// TestFetch walks a publisher and a client through a day: first fetch,
// conditional fetches of an unchanged list, a change, and the re-signing
// of an unchanged list as it ages.
func TestFetch(t *testing.T) {
	key := edKey(1)
	clk := &clock{now: t0}
	l := New(Options{Rand: seeded(11)})
	want := fill(t, l, 1000, 11)
	p, err := NewPublisher(PublisherConfig{List: l, Key: key, Issuer: testIssuer, TTL: time.Hour, Refresh: time.Minute, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var have uint64 // the client's version
	var listBytes []byte
	type step struct {
		name        string
		before      func()
		have        func() uint64
		notModified bool
		resigned    bool // a new signature was made
	}
	steps := []step{
		{name: "first fetch", have: func() uint64 { return 0 }, resigned: true},
		{name: "fetch again with nothing: cached bytes", have: func() uint64 { return 0 }},
		{name: "conditional, unchanged", have: func() uint64 { return have }, notModified: true, resigned: true},
		{name: "conditional again: cached answer", before: func() { clk.Advance(30 * time.Second) }, have: func() uint64 { return have }, notModified: true},
		{name: "unknown version: full list", have: func() uint64 { return have + 100 }},
		{name: "after a change: full list", before: func() {
			i, _ := l.Assign()
			l.Set(i, Valid)
			want[i] = Valid
		}, have: func() uint64 { return have }, resigned: true},
		{name: "then not modified", have: func() uint64 { return have }, notModified: true, resigned: true},
		{name: "a minute on: list re-signed for new fetchers", before: func() { clk.Advance(time.Minute) }, have: func() uint64 { return 0 }, resigned: true},
		{name: "and a fresh answer for holders", have: func() uint64 { return have }, notModified: true, resigned: true},
		{name: "clock went back: signed again", before: func() { clk.Advance(-2 * time.Minute) }, have: func() uint64 { return have }, notModified: true, resigned: true},
	}
	prev := map[bool][]byte{} // the last bytes of each kind
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			signs := p.signs
			data, nm, err := p.Fetch(st.have())
			if err != nil {
				t.Fatal(err)
			}
			if nm != st.notModified {
				t.Fatalf("notModified = %v, want %v", nm, st.notModified)
			}
			// Resigned counts the list as well as the answer: a change
			// signs both.
			if got := p.signs > signs; got != st.resigned {
				t.Errorf("signed anew: %v, want %v", got, st.resigned)
			}
			if !st.resigned && !bytes.Equal(data, prev[nm]) {
				t.Error("bytes changed without a new signature")
			}
			prev[nm] = data
			now := clk.Now()
			if nm {
				if len(data) >= 1024 {
					t.Errorf("not-modified answer of %d bytes, want < 1 KiB", len(data))
				}
				a, err := VerifyNotModified(data, key.Public(), now)
				if err != nil {
					t.Fatal(err)
				}
				s, err := Verify(listBytes, key.Public(), now)
				if err != nil {
					t.Fatal(err)
				}
				if !a.Matches(s) || a.Version != have {
					t.Errorf("answer %+v does not match the client's list", a)
				}
				return
			}
			s, err := Verify(data, key.Public(), now)
			if err != nil {
				t.Fatal(err)
			}
			if s.Version != l.Version() {
				t.Errorf("version %d, list at %d", s.Version, l.Version())
			}
			for i, w := range want {
				if got, _ := s.Get(i); got != w {
					t.Fatalf("entry %d = %v, want %v", i, got, w)
				}
			}
			have, listBytes = s.Version, data
		})
	}
}

// TestFetchResignsNearExpiry: with Refresh close to TTL, an unchanged list
// is signed again only when its expiry approaches.
func TestFetchResignsNearExpiry(t *testing.T) {
	clk := &clock{now: t0}
	l := New(Options{})
	p, err := NewPublisher(PublisherConfig{List: l, Key: edKey(1), Issuer: testIssuer, TTL: 24 * time.Hour, Refresh: 20 * time.Hour, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := p.Fetch(0)
	clk.Advance(19 * time.Hour)
	if again, _, _ := p.Fetch(0); !bytes.Equal(again, first) {
		t.Error("re-signed 19 h into a 24 h list")
	}
	clk.Advance(time.Hour)
	again, _, _ := p.Fetch(0)
	s, err := Verify(again, edKey(1).Public(), clk.Now())
	if err != nil || !s.IssuedAt.Equal(clk.Now()) {
		t.Errorf("20 h on: %v, issued %v; want signed anew", err, s)
	}
}

func TestFetchErrors(t *testing.T) {
	// A key whose Sign fails: Fetch reports it and serves nothing.
	p, err := NewPublisher(PublisherConfig{List: New(Options{}), Key: failingSigner{edKey(1)}, Issuer: testIssuer})
	if err != nil {
		t.Fatal(err)
	}
	if data, _, err := p.Fetch(0); err == nil || data != nil {
		t.Errorf("Fetch = %d bytes, %v; want an error", len(data), err)
	}
}

type failingSigner struct {
	k interface{ Public() crypto.PublicKey }
}

func (f failingSigner) Public() crypto.PublicKey { return f.k.Public() }
func (f failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("hardware key unplugged")
}
