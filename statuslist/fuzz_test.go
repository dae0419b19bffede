package statuslist

import (
	"errors"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary bytes to Verify and VerifyNotModified, twice:
// as the whole COSE_Sign1, where anything but the seeds fails the
// signature, and as the payload of a list and of an answer signed with
// the test key, which takes the fuzzer past the signature into the
// payload checks and the decompression. Nothing may panic, every error
// must be one of the documented ones, and a list that verifies must
// answer Get for every index.
func FuzzVerify(f *testing.F) {
	key := edKey(1)
	l := New(Options{Rand: seeded(14)})
	fill(f, l, 300, 14)
	list, err := l.Publish(key, testIssuer, t0, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	p, _ := NewPublisher(PublisherConfig{List: l, Key: key, Issuer: testIssuer, Clock: func() time.Time { return t0 }})
	p.Fetch(0)
	nm, _, err := p.Fetch(l.Version())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(list)
	f.Add(nm)
	f.Add(list[:len(list)/2])
	f.Add(openPayload(f, list))
	f.Add(openPayload(f, nm))
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(s *Snapshot, err error) {
			if err != nil {
				if !knownError(err) {
					t.Fatalf("undocumented error: %v", err)
				}
				return
			}
			for i := range s.Size {
				if _, err := s.Get(i); err != nil {
					t.Fatal(err)
				}
			}
		}
		checkNM := func(_ *NotModified, err error) {
			if err != nil && !knownError(err) {
				t.Fatalf("undocumented error: %v", err)
			}
		}
		check(Verify(data, key.Public(), t0))
		checkNM(VerifyNotModified(data, key.Public(), t0))
		check(Verify(signPayload(t, key, TypeList, data), key.Public(), t0))
		checkNM(VerifyNotModified(signPayload(t, key, TypeNotModified, data), key.Public(), t0))
	})
}

func knownError(err error) bool {
	for _, e := range []error{ErrFormat, ErrKey, ErrSignature, ErrExpired, ErrNotYetValid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// openPayload returns the payload of a COSE_Sign1.
func openPayload(tb testing.TB, data []byte) []byte {
	e, err := parseEnvelope(data)
	if err != nil {
		tb.Fatal(err)
	}
	return e.msg.Payload
}
