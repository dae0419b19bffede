package bolt

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// TestWritePermitsFailureLandsNothing: a storage failure in one write of a
// batch (its audit append fails, on a log whose head was removed) rolls
// the whole batch back: no permit, request record or index entry of it
// remains, and a batch without the failing write commits.
func TestWritePermitsFailureLandsNothing(t *testing.T) {
	s := openTest(t, headlessLog(t), nil)
	defer s.Close()
	ctx := t.Context()
	batch := func(audited int) []store.PermitWrite {
		var ws []store.PermitWrite
		for i := range 3 {
			id := storetest.PermitID(100 + i)
			w := store.PermitWrite{RequestID: fmt.Sprintf("batch-%d", i), RequestHash: []byte("hash"),
				Permit: storetest.NewPermit(id, storetest.CitizenID(100+i))}
			if i == audited {
				w.Audit = storetest.NewAuditEntry("sup1", "/epermit.v1.ImportService/ImportPermits", id, time.Now())
			}
			ws = append(ws, w)
		}
		return ws
	}
	refusals, err := s.WritePermits(ctx, batch(1))
	if err == nil || refusals != nil {
		t.Fatalf("WritePermits with a failing audit append: %v, %v; want a storage failure", refusals, err)
	}
	for i := range 3 {
		if _, err := s.GetPermit(ctx, storetest.PermitID(100+i)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("permit %d after the failed batch: %v", i, err)
		}
		if _, err := s.Replay(ctx, fmt.Sprintf("batch-%d", i)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("request %d after the failed batch: %v", i, err)
		}
		if got, err := s.ListPermits(ctx, store.PermitFilter{CitizenID: storetest.CitizenID(100 + i)}, "", 5); err != nil || len(got) != 0 {
			t.Errorf("citizen %d after the failed batch: %v, %v", i, got, err)
		}
	}
	refusals, err = s.WritePermits(ctx, batch(-1))
	if err != nil || len(refusals) != 3 || refusals[0] != nil || refusals[1] != nil || refusals[2] != nil {
		t.Fatalf("the batch without an audit entry: %v, %v", refusals, err)
	}
}
