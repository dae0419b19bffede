package storetest

import (
	"fmt"
	"sync"
	"testing"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// testWritePermits: a batch stores every write that passes its checks,
// each with its request record and audit entry, and refuses the others one
// by one, each checked against the writes before it in the batch.
func testWritePermits(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := t.Context()
	held := NewPermit(PermitID(1), CitizenID(1))
	mustWrite(t, s, held, "r-held")
	wantChain(t, s, 0)

	batch := []struct {
		name string
		w    store.PermitWrite
		want error
	}{
		{"new", store.PermitWrite{RequestID: "b-1", Permit: NewPermit(PermitID(10), CitizenID(10))}, nil},
		{"second new", store.PermitWrite{RequestID: "b-2", Permit: NewPermit(PermitID(11), CitizenID(11))}, nil},
		{"citizen holds a stored permit", store.PermitWrite{RequestID: "b-3", Permit: NewPermit(PermitID(12), CitizenID(1))}, store.ErrActivePermit},
		{"citizen holds a permit earlier in the batch", store.PermitWrite{RequestID: "b-4", Permit: NewPermit(PermitID(13), CitizenID(10))}, store.ErrActivePermit},
		{"request id used earlier in the batch", store.PermitWrite{RequestID: "b-1", Permit: NewPermit(PermitID(14), CitizenID(14))}, store.ErrDuplicateRequest},
		{"request id used before", store.PermitWrite{RequestID: "r-held", Permit: NewPermit(PermitID(15), CitizenID(15))}, store.ErrDuplicateRequest},
		{"permit id taken", store.PermitWrite{RequestID: "b-6", Permit: NewPermit(PermitID(1), CitizenID(16))}, store.ErrConflict},
		{"final permit of a holding citizen", store.PermitWrite{RequestID: "b-7", Permit: newFinal(PermitID(17), CitizenID(1), epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED)}, nil},
	}
	ws := make([]store.PermitWrite, len(batch))
	for i, c := range batch {
		c.w.RequestHash = hashOf(c.w.RequestID + c.w.Permit.GetId())
		c.w.Audit = entryFor(c.w.Permit.GetId())
		ws[i] = c.w
	}
	refusals, err := s.WritePermits(ctx, ws)
	if err != nil {
		t.Fatalf("WritePermits: %v", err)
	}
	if len(refusals) != len(ws) {
		t.Fatalf("WritePermits returned %d outcomes for %d writes", len(refusals), len(ws))
	}
	stored := 0
	for i, c := range batch {
		switch {
		case c.want == nil && refusals[i] != nil:
			t.Errorf("%s: refused with %v", c.name, refusals[i])
		case c.want == nil:
			stored++
			wantPermit(t, s, c.w.Permit)
			wantEntry(t, s, ws[i].Audit)
			r, err := s.Replay(ctx, ws[i].RequestID)
			if err != nil || string(r.RequestHash) != string(ws[i].RequestHash) || r.GetPermit().GetId() != ws[i].Permit.GetId() {
				t.Errorf("%s: Replay = %v, %v", c.name, r, err)
			}
		default:
			wantErr(t, c.name, refusals[i], c.want)
		}
	}
	wantActive(t, "citizen holds a stored permit", refusals[2], held.GetId())
	wantActive(t, "citizen holds a permit earlier in the batch", refusals[3], PermitID(10))
	wantMissing(t, s, PermitID(13))
	wantMissing(t, s, PermitID(14))
	wantPermit(t, s, held)
	wantChain(t, s, stored)

	// A caller's mistake in one write fails the whole call, writing nothing.
	bad := NewPermit(PermitID(20), CitizenID(20))
	bad.Version = 3
	if _, err := s.WritePermits(ctx, []store.PermitWrite{
		{RequestID: "c-1", RequestHash: hashOf("c-1"), Permit: NewPermit(PermitID(21), CitizenID(21))},
		{RequestID: "c-2", RequestHash: hashOf("c-2"), Permit: bad},
	}); err == nil {
		t.Fatal("WritePermits with a wrong version: no error")
	}
	wantMissing(t, s, PermitID(21))
	if _, err := s.Replay(ctx, "c-1"); err == nil {
		t.Fatal("a refused call recorded its request id")
	}

	// An empty batch writes nothing.
	if r, err := s.WritePermits(ctx, nil); err != nil || len(r) != 0 {
		t.Fatalf("WritePermits(nil) = %v, %v", r, err)
	}

	// The batch is durable.
	s = b.Reopen(t, s)
	t.Cleanup(func() { s.Close() })
	for i, c := range batch {
		if c.want == nil {
			wantPermit(t, s, ws[i].Permit)
		}
	}
	wantChain(t, s, stored)
}

// testWritePermitsConcurrent: batches and single writes racing for the
// same citizens give each citizen one non-final permit, and every write
// that was not refused is stored.
func testWritePermitsConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	ctx := t.Context()
	const writers, citizens = 4, 60
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners = map[string][]string{} // citizen -> permits stored
	)
	for w := range writers {
		wg.Go(func() {
			var ws []store.PermitWrite
			for c := range citizens {
				id := PermitID(1000*(w+1) + c)
				req := fmt.Sprintf("w%d-%d", w, c)
				ws = append(ws, store.PermitWrite{RequestID: req, RequestHash: hashOf(req),
					Permit: NewPermit(id, CitizenID(c)), Audit: entryFor(id)})
			}
			if w == 0 {
				// One writer makes its writes one at a time.
				for _, x := range ws {
					err := s.WritePermit(ctx, x)
					if err != nil && !isActive(err) {
						t.Errorf("WritePermit: %v", err)
					}
					if err == nil {
						mu.Lock()
						winners[x.Permit.GetHolder().GetCitizenId()] = append(winners[x.Permit.GetHolder().GetCitizenId()], x.Permit.GetId())
						mu.Unlock()
					}
				}
				return
			}
			refusals, err := s.WritePermits(ctx, ws)
			if err != nil {
				t.Errorf("WritePermits: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for i, r := range refusals {
				switch {
				case r == nil:
					c := ws[i].Permit.GetHolder().GetCitizenId()
					winners[c] = append(winners[c], ws[i].Permit.GetId())
				case !isActive(r):
					t.Errorf("write %d: %v", i, r)
				}
			}
		})
	}
	wg.Wait()
	if len(winners) != citizens {
		t.Fatalf("%d citizens got a permit, want %d", len(winners), citizens)
	}
	for c, ids := range winners {
		if len(ids) != 1 {
			t.Errorf("citizen %s got %d permits: %v", c, len(ids), ids)
		}
		got, err := s.ListPermits(ctx, store.PermitFilter{CitizenID: c}, "", 10)
		if err != nil || len(got) != 1 || got[0].GetId() != ids[0] {
			t.Errorf("citizen %s: ListPermits = %v, %v; want %s", c, got, err, ids[0])
		}
	}
	wantChain(t, s, citizens)
}

// isActive reports whether err is the one-permit refusal.
func isActive(err error) bool {
	_, ok := err.(*store.ActivePermitError)
	return ok
}
