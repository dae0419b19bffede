package bolt

import (
	"fmt"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// BenchmarkClaimDeliveries is storetest.BenchClaims on a file: a claim
// reads the outbox and holds what it takes in memory.
func BenchmarkClaimDeliveries(b *testing.B) {
	for _, held := range []int{0, 48} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			storetest.BenchClaims(b, tempStore(b, nil), held)
		})
	}
}

// TestClaimHolds: a claim holds the version it took until its lease runs
// out or a write of the request ends it; the end a write makes of the
// holds before it leaves a claim of the version it wrote; a hold that an
// earlier version of the store left in the file is honoured until it runs
// out.
func TestClaimHolds(t *testing.T) {
	s := tempStore(t, nil)
	ctx := t.Context()
	at := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	const lease = time.Minute
	r := storetest.NewServiceRequest(storetest.ServiceRequestID(1), storetest.PermitID(1))
	r.NextAttemptTime = timestamppb.New(at)
	write := func(r *epermitv1.ServiceRequest) {
		t.Helper()
		if err := s.WriteServiceRequest(ctx, store.ServiceRequestWrite{PrevVersion: r.Version - 1, Request: r}); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(now time.Time, want int) {
		t.Helper()
		rs, err := s.ClaimDeliveries(ctx, now, lease, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != want {
			t.Fatalf("claim at %v took %d requests, want %d", now.Sub(at), len(rs), want)
		}
	}
	write(r)
	claim(at, 1)
	claim(at, 0)            // held
	claim(at.Add(lease), 1) // ran out, and held again
	claim(at.Add(lease), 0)

	r = proto.CloneOf(r)
	r.Version++
	write(r) // ends the hold of version 1
	claim(at.Add(lease), 1)
	s.claims.end(r.Id, r.Version) // the end of version 2's write, come late
	claim(at.Add(lease), 0)

	s.claims.holds = nil // as after a restart; then a hold left in the file
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOutbox).Put(outboxKey(r), deadlinePrefix(at.Add(time.Hour)))
	})
	if err != nil {
		t.Fatal(err)
	}
	claim(at.Add(lease), 0)
	claim(at.Add(time.Hour+time.Nanosecond), 1)
}
