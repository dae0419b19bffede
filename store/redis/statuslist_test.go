package redis

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/yrd-epermit/epermit/statuslist"
)

// BenchmarkStatusList reads a status list of 2^21 entries, half of them
// set (about a million permits: 1 MiB packed), as a replica does when the
// list's version has moved, and loads it into a List.
func BenchmarkStatusList(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: startTestServer(b), Division: "330604"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	packed := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range packed {
		if r.IntN(2) == 0 {
			packed[i] = 0x01
		}
	}
	if err := s.c.Set(ctx, s.key("status"), packed, 0).Err(); err != nil {
		b.Fatal(err)
	}
	l := statuslist.New(statuslist.Options{})
	for b.Loop() {
		got, v, err := s.StatusList(ctx)
		if err != nil || len(got) != len(packed) {
			b.Fatalf("StatusList: %d bytes, %v", len(got), err)
		}
		if err := l.Load(got, v); err != nil {
			b.Fatal(err)
		}
	}
}
