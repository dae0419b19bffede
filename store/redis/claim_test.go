package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// openDivision opens a store of division div on url, closed when tb ends.
func openDivision(tb testing.TB, url, div string) *Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, Options{URL: url, Division: div})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestClaimReplicas races claimers on three Stores of one division, as
// three permitd replicas run their outboxes: every request is claimed by
// exactly one of them within the lease.
func TestClaimReplicas(t *testing.T) {
	url := startTestServer(t)
	var replicas []store.Store
	for range 3 {
		replicas = append(replicas, openDivision(t, url, "330604"))
	}
	storetest.RaceClaims(t, replicas...)
}

// BenchmarkClaimDeliveries is storetest.BenchClaims on one redis-server
// (appendfsync always), each run on a division of its own: each claim is
// one script.
func BenchmarkClaimDeliveries(b *testing.B) {
	url := startTestServer(b)
	var runs atomic.Int64
	for _, held := range []int{0, 48} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			storetest.BenchClaims(b, openDivision(b, url, fmt.Sprintf("bench%04d", runs.Add(1))), held)
		})
	}
}
