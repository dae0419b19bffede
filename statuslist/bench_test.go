package statuslist

import (
	"sync"
	"testing"
	"time"
)

// A register of a million permits: mostly valid, 1% each suspended,
// cancelled, confiscated and superseded, at random indices of a list that
// has grown to 2^21 entries.
var million struct {
	once sync.Once
	list *List
	data []byte
}

func millionList(b *testing.B) (*List, []byte) {
	million.once.Do(func() {
		l := New(Options{Rand: seeded(15), Version: 1_780_000_000_000_000})
		fill(b, l, 1_000_000, 15)
		data, err := l.Publish(edKey(1), testIssuer, t0, DefaultTTL)
		if err != nil {
			b.Fatal(err)
		}
		million.list, million.data = l, data
	})
	return million.list, million.data
}

// BenchmarkPublish1M signs a million-permit list and reports its size.
func BenchmarkPublish1M(b *testing.B) {
	l, _ := millionList(b)
	key := edKey(1)
	var data []byte
	for b.Loop() {
		var err error
		if data, err = l.Publish(key, testIssuer, t0, DefaultTTL); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bytes/list")
	b.ReportMetric(float64(l.Size()), "entries")
	b.ReportMetric(float64(len(data))*8/1_000_000, "bits/permit")
}

// BenchmarkVerify1M verifies a million-permit list.
func BenchmarkVerify1M(b *testing.B) {
	_, data := millionList(b)
	pub := edKey(1).Public()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Verify(data, pub, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotGet reads entries of a verified million-permit list.
func BenchmarkSnapshotGet(b *testing.B) {
	_, data := millionList(b)
	s, err := Verify(data, edKey(1).Public(), t0)
	if err != nil {
		b.Fatal(err)
	}
	mask := s.Size - 1
	var i uint32
	for b.Loop() {
		if _, err := s.Get(i & mask); err != nil {
			b.Fatal(err)
		}
		i += 7919 // a prime: jump around the list
	}
}

// BenchmarkCacheStatus asks a Cache about a million-permit list.
func BenchmarkCacheStatus(b *testing.B) {
	_, data := millionList(b)
	c := NewCache()
	if err := c.Update(testIssuer, trust, data, false, t0); err != nil {
		b.Fatal(err)
	}
	var i uint32
	for b.Loop() {
		c.Status(testIssuer, i&(1<<21-1), t0, time.Hour)
		i += 7919
	}
}

// BenchmarkRefetchUnchanged1M is a conditional fetch of an unchanged
// million-permit list: the bytes moved are the not-modified answer.
// "cached" serves the answer signed within Refresh, the common case;
// "signed" is the cost of signing a new answer, once per Refresh.
func BenchmarkRefetchUnchanged1M(b *testing.B) {
	l, _ := millionList(b)
	p, err := NewPublisher(PublisherConfig{List: l, Key: edKey(1), Issuer: testIssuer,
		Clock: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := p.Fetch(0); err != nil { // sign the list once
		b.Fatal(err)
	}
	v := l.Version()
	b.Run("cached", func(b *testing.B) {
		var data []byte
		for b.Loop() {
			var nm bool
			if data, nm, err = p.Fetch(v); err != nil || !nm {
				b.Fatal(err, nm)
			}
		}
		if len(data) >= 1024 {
			b.Fatalf("not-modified answer of %d bytes, want < 1 KiB", len(data))
		}
		b.ReportMetric(float64(len(data)), "bytes/refetch")
	})
	b.Run("signed", func(b *testing.B) {
		var data []byte
		for b.Loop() {
			if data, err = signNotModified(p.cfg.Key, testIssuer, p.list, t0, DefaultTTL); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data)), "bytes/refetch")
	})
}

// BenchmarkAssign hands out indices in a list of 2^24 entries half full,
// the worst occupancy before it grows, with crypto/rand; each index is
// released again to keep the occupancy where it is.
func BenchmarkAssign(b *testing.B) {
	l := New(Options{Size: 1 << 24})
	for range 1<<23 - 1 {
		if _, err := l.Assign(); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		i, err := l.Assign()
		if err != nil {
			b.Fatal(err)
		}
		l.Release(i)
	}
	if l.Size() != 1<<24 {
		b.Fatalf("grew to %d", l.Size())
	}
}

// BenchmarkLoad loads 2^21 entries, half of them set (about a million
// permits), as a replica sharing its list does when the list has moved.
func BenchmarkLoad(b *testing.B) {
	packed := make([]byte, 1<<20)
	for i := range packed {
		if i%2 == 0 {
			packed[i] = 0x01
		}
	}
	l := New(Options{})
	for b.Loop() {
		if err := l.Load(packed, 2); err != nil {
			b.Fatal(err)
		}
	}
}
