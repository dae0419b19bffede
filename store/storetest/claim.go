package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// testServiceRequestClaims checks the lease of ClaimDeliveries: a claimed
// request is not returned again before its lease ends and is, at its
// place, after; the claim changes nothing else of it; an outcome write
// ends the claim, also one that keeps the time; a cancellation takes the
// request out for good; a claim of nothing is empty; a lease that is not
// positive is refused.
func testServiceRequestClaims(t *testing.T, b Backend) {
	s := open(t, b)
	if got := claim(t, s, srStart, time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %q from an empty outbox", idsFrom(got))
	}
	for _, lease := range []time.Duration{0, -time.Second} {
		if got, err := s.ClaimDeliveries(t.Context(), srStart, lease, 10); err == nil {
			t.Fatalf("a claim with lease %v returned %q, want an error", lease, idsFrom(got))
		}
	}
	// Requests 0, 1 and 2 are due at srStart, 3 an hour later.
	rs := make([]*epermitv1.ServiceRequest, 4)
	for i := range rs {
		rs[i] = NewServiceRequest(ServiceRequestID(i), PermitID(i))
		if i == 3 {
			rs[i].NextAttemptTime = timestamppb.New(srStart.Add(time.Hour))
		}
		mustWriteSR(t, s, rs[i], "", true)
	}
	id := ServiceRequestID
	at := func(d time.Duration) time.Time { return srStart.Add(d) }
	const lease = 10 * time.Minute
	wantClaim := func(now time.Time, limit int, want ...string) []*epermitv1.ServiceRequest {
		t.Helper()
		got := claim(t, s, now, lease, limit)
		if !slices.Equal(idsFrom(got), want) {
			t.Fatalf("ClaimDeliveries(+%v, %v, %d) = %q, want %q", now.Sub(srStart), lease, limit, idsFrom(got), want)
		}
		return got
	}
	first := wantClaim(at(0), 2, id(0), id(1))
	if !proto.Equal(first[0], rs[0]) || !proto.Equal(first[1], rs[1]) {
		t.Fatalf("claimed %v, want the requests as stored", first)
	}
	wantClaim(at(time.Minute), 10, id(2)) // 0 and 1 are held
	wantClaim(at(lease-time.Nanosecond), 10)
	wantSR(t, s, rs[0]) // a claim changes nothing of the request
	// The lease of 0 and 1 ends: they are taken again (a claimer that
	// died is taken over), before 2, whose lease still runs.
	wantClaim(at(lease), 10, id(0), id(1))
	wantClaim(at(lease+time.Minute), 10, id(2))

	// The outcome write ends the claim: a failed attempt makes request 2
	// due at once, and it is taken at its new place, ahead of 0 and 1.
	retry := nextSR(rs[2], func(r *epermitv1.ServiceRequest) {
		r.Attempts++
		r.NextAttemptTime = timestamppb.New(at(-time.Minute))
	})
	mustWriteSR(t, s, retry, "", false)
	wantClaim(at(lease+2*time.Minute), 10, id(2))
	// So does a write that keeps the time.
	kept := nextSR(retry, func(r *epermitv1.ServiceRequest) { r.Reason = "same time" })
	mustWriteSR(t, s, kept, "", false)
	if got := wantClaim(at(lease+3*time.Minute), 10, id(2)); !proto.Equal(got[0], kept) {
		t.Fatalf("claimed %v, want the request as last written", got[0])
	}
	// A cancellation of a held request takes it out for good; a delivery
	// does too.
	mustWriteSR(t, s, nextSR(rs[0], toState(epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_CANCELLED, at(lease+4*time.Minute))), "", true)
	mustWriteSR(t, s, nextSR(kept, toState(epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, at(lease+4*time.Minute))), "", true)
	wantClaim(at(24*time.Hour), 10, id(1), id(3))
	wantClaim(at(48*time.Hour), 0)
	wantClaim(at(48*time.Hour), 1, id(1))
}

// testServiceRequestClaimsConcurrent is RaceClaims on one store.
func testServiceRequestClaimsConcurrent(t *testing.T, b Backend) {
	RaceClaims(t, open(t, b))
}

// RaceClaims races eight claimers spread over stores, all of one division
// (replicas sharing one backend; one store is fine), each claiming a few
// at a time until the outbox is empty, while a writer adds requests:
// every request is claimed by exactly one of them within the lease. The
// division's outbox must be empty at the start.
func RaceClaims(t *testing.T, stores ...store.Store) {
	s := stores[0]
	const before, during, claimers = 40, 20, 8
	for i := range before {
		mustWriteSR(t, s, NewServiceRequest(ServiceRequestID(i), PermitID(i%5)), "", true)
	}
	var (
		mu    sync.Mutex
		got   = map[string]int{}
		wg    sync.WaitGroup
		added = make(chan struct{})
	)
	wg.Go(func() {
		defer close(added)
		for i := before; i < before+during; i++ {
			if err := writeSR(t, s, NewServiceRequest(ServiceRequestID(i), PermitID(i%5)), "", true); err != nil {
				t.Errorf("write %s: %v", ServiceRequestID(i), err)
			}
		}
	})
	for c := range claimers {
		wg.Go(func() {
			writing := true
			for {
				rs, err := stores[c%len(stores)].ClaimDeliveries(t.Context(), srStart.Add(time.Minute), time.Hour, 1+c%3)
				if err != nil {
					t.Errorf("claimer %d: %v", c, err)
					return
				}
				mu.Lock()
				for _, r := range rs {
					got[r.GetId()]++
				}
				mu.Unlock()
				if len(rs) > 0 {
					continue
				}
				if !writing {
					return
				}
				select {
				case <-added:
					writing = false // one more round sees every request
				default:
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range before + during {
		if n := got[ServiceRequestID(i)]; n != 1 {
			t.Errorf("request %s was claimed %d times within one lease, want once", ServiceRequestID(i), n)
		}
	}
	if len(got) != before+during {
		t.Errorf("claimed %d distinct requests, want %d", len(got), before+during)
	}
	if left := dueIDs(t, s, srStart.Add(time.Hour-time.Nanosecond), 100); len(left) != 0 {
		t.Errorf("held requests claimed again before the lease ended: %q", left)
	}
	if again := dueIDs(t, s, srStart.Add(time.Minute+time.Hour), 100); len(again) != before+during {
		t.Errorf("%d requests due again when the lease ended, want %d", len(again), before+during)
	}
}
