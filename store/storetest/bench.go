package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/store"
)

// BenchClaims measures ClaimDeliveries on s, an empty store: eight
// claimers, each taking up to 16 due requests at a time (a node's free
// workers) from an outbox of 1,000, of which the first held are held by
// claims that last, as by deliveries in flight on other replicas, and
// must be stepped over. Each claim holds for a nanosecond and the claims'
// times increase, so every claim finds the same outbox. It reports claims
// and claimed requests a second.
func BenchClaims(b *testing.B, s store.Store, held int) {
	const due, claimers, limit = 1000, 8, 16
	for i := range due {
		r := NewServiceRequest(ServiceRequestID(i), PermitID(i%50))
		if err := s.WriteServiceRequest(b.Context(), store.ServiceRequestWrite{Request: r}); err != nil {
			b.Fatal(err)
		}
	}
	if held > 0 {
		if rs, err := s.ClaimDeliveries(b.Context(), srStart, 24*time.Hour, held); err != nil || len(rs) != held {
			b.Fatalf("holding %d: %d, %v", held, len(rs), err)
		}
	}
	var (
		next    atomic.Int64
		claimed atomic.Int64
		wg      sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for range claimers {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				rs, err := s.ClaimDeliveries(b.Context(), srStart.Add(time.Duration(n)*time.Microsecond), time.Nanosecond, limit)
				if err != nil {
					b.Error(err)
					return
				}
				claimed.Add(int64(len(rs)))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/elapsed, "claims/s")
	b.ReportMetric(float64(claimed.Load())/elapsed, "requests/s")
}
