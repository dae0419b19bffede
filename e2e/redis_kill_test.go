package e2e

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/store/redis/redistest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestRedisKilledUnderLoad: twenty clerks issue permits through a permitd
// on redis-server (appendfsync always) while redis-server is killed with
// SIGKILL and started again on its folder. Every permit whose issuance was
// acknowledged is there afterwards, with the holder it was issued to; calls
// made while Redis was down fail with UNAVAILABLE (retry) and no other
// code, and the node serves again once Redis is back, without a
// restart of its own. A call whose answer was lost, retried under its
// request id, gets one permit, not two.
func TestRedisKilledUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	n := startReplicas(t, srv, testConfig, 1)[0]
	permits := epermitv1.NewPermitServiceClient(n.conn(n.staff().clerk))

	type issued struct{ requestID, citizen, permit string }
	var (
		mu       sync.Mutex
		acked    []issued
		unknown  []issued // no answer: may or may not have landed
		failures = map[codes.Code]int{}
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	gen := citizenid.NewGenerator(907)
	var genMu sync.Mutex
	next := func() string { genMu.Lock(); defer genMu.Unlock(); return gen.Next() }
	for w := range 20 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				it := issued{requestID: fmt.Sprintf("kill-%d-%d", w, i), citizen: next()}
				resp, err := permits.IssuePermit(ctx(t), issueRequest(it.requestID, it.citizen))
				mu.Lock()
				if err == nil {
					it.permit = resp.Permit.Id
					acked = append(acked, it)
				} else {
					failures[status.Code(err)]++
					unknown = append(unknown, it)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // Redis is down: do not spin
				}
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, 30*time.Second, func() bool { return count() >= 100 }, "100 permits issued before the kill")
	srv.Restart(t) // SIGKILL, then the same folder again
	before := count()
	waitFor(t, 30*time.Second, func() bool { return count() >= before+100 }, "100 more permits issued after redis-server came back")
	stop.Store(true)
	wg.Wait()

	for code := range failures {
		if code != codes.Unavailable {
			t.Errorf("calls failed with %v while Redis was down (%v); want only UNAVAILABLE", code, failures)
		}
	}
	t.Logf("%d acknowledged, %d failed %v", len(acked), len(unknown), failures)
	for _, it := range acked {
		p, err := permits.GetPermit(ctx(t), &epermitv1.GetPermitRequest{PermitId: it.permit})
		if err != nil {
			t.Fatalf("acknowledged permit %s (request %s) after the kill: %v", it.permit, it.requestID, err)
		}
		if p.Permit.Holder.CitizenId != it.citizen {
			t.Fatalf("permit %s holds %s, issued to %s", it.permit, p.Permit.Holder.CitizenId, it.citizen)
		}
	}
	// Calls without an answer, retried: each ends with exactly one permit.
	for _, it := range unknown {
		resp, err := permits.IssuePermit(ctx(t), issueRequest(it.requestID, it.citizen))
		if err != nil {
			t.Fatalf("retry of %s: %v", it.requestID, err)
		}
		list, err := permits.ListPermits(ctx(t), &epermitv1.ListPermitsRequest{CitizenId: it.citizen})
		if err != nil || len(list.Permits) != 1 || list.Permits[0].Id != resp.Permit.Id {
			t.Fatalf("citizen of retried %s holds %v (%v), want only %s", it.requestID, list.GetPermits(), err, resp.Permit.Id)
		}
	}
}

// waitFor polls cond every 20 ms until it holds, failing the test with
// what after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
