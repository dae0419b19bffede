package scenario

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/server/devdepartment/sim"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// runOutboxes runs an outbox on each service with few workers and a fast
// poll, and stops them when the test ends.
func runOutboxes(t *testing.T, h *harness, svcs ...*Service) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range svcs {
		cfg := OutboxConfig{Departments: h.adapters, DefaultTimeout: 2 * time.Second, MaxAttempts: 3,
			Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Workers: 4, Poll: 5 * time.Millisecond}
		wg.Go(func() { s.RunOutbox(ctx, cfg) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestOutboxReplicas: three outboxes on one store, as three replicas
// would run them, polling every 5 ms while each delivery takes 30 ms:
// every request reaches the department exactly once, because a request
// one of them claimed is held from the others.
func TestOutboxReplicas(t *testing.T) {
	h := newHarness(t, options{noOutbox: true, sims: map[string]sim.Config{"hrss": {Mode: sim.ModeComplete, Latency: 30 * time.Millisecond}}})
	p := h.permit(t, 24)
	var ids []string
	for range 30 {
		ids = append(ids, h.submit(t, p, "unemployment_registration", nil, nil).Id)
	}
	runOutboxes(t, h, h.svc, New(h.svc.cfg), New(h.svc.cfg))
	for _, id := range ids {
		h.settle(t, id, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED)
	}
	stats, err := h.stats["hrss"].GetStats(t.Context(), &departmentv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if n := stats.Submits[id]; n != 1 {
			t.Errorf("request %s reached the department %d times, want once", id, n)
		}
	}
	if stats.Distinct != int64(len(ids)) {
		t.Errorf("the department received %d distinct requests, want %d", stats.Distinct, len(ids))
	}
}

// TestOutboxTakesOver: requests claimed by a replica that then died are
// delivered by another once the claim's lease has run out.
func TestOutboxTakesOver(t *testing.T) {
	h := newHarness(t, options{noOutbox: true, sims: map[string]sim.Config{"hrss": {Mode: sim.ModeComplete}}})
	p := h.permit(t, 24)
	var ids []string
	for range 5 {
		ids = append(ids, h.submit(t, p, "unemployment_registration", nil, nil).Id)
	}
	now := time.Now()
	held, err := h.store.ClaimDeliveries(t.Context(), now, time.Hour, 10)
	if err != nil || len(held) != len(ids) {
		t.Fatalf("the replica that dies claimed %d requests (%v), want %d", len(held), err, len(ids))
	}
	// The survivor's clock is past the lease.
	cfg := h.svc.cfg
	cfg.Clock = func() time.Time { return time.Now().Add(time.Hour + time.Minute) }
	runOutboxes(t, h, New(cfg))
	for _, id := range ids {
		h.settle(t, id, epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_COMPLETED)
	}
}

// TestOutboxLease: the lease is the one configured, else the longest
// timeout of any department plus LeaseMargin.
func TestOutboxLease(t *testing.T) {
	for _, tt := range []struct {
		cfg  OutboxConfig
		want time.Duration
	}{
		{OutboxConfig{DefaultTimeout: 5 * time.Second}, 5*time.Second + LeaseMargin},
		{OutboxConfig{DefaultTimeout: 5 * time.Second, Timeouts: map[string]time.Duration{"hrss": 20 * time.Second, "health": time.Second}}, 20*time.Second + LeaseMargin},
		{OutboxConfig{DefaultTimeout: 5 * time.Second, Lease: time.Minute}, time.Minute},
	} {
		if got := tt.cfg.lease(); got != tt.want {
			t.Errorf("lease of %+v = %v, want %v", tt.cfg, got, tt.want)
		}
	}
}
