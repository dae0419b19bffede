package redis

import (
	"context"
	"testing"

	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storetest"
)

// TestLongLogs reads an event log and an audit log longer than one chunk
// (auditChunk) in one call and page by page.
func TestLongLogs(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: startTestServer(t), Division: "330604"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 2*auditChunk + 17
	for i := range n {
		r := storetest.NewServiceRequest(storetest.ServiceRequestID(i), storetest.PermitID(i))
		e := storetest.NewAuditEntry("clerk.test-01", "/epermit.v1.ServiceRequestService/SubmitServiceRequest", r.GetId(), storetest.NewPermit("x", "y").GetCreateTime().AsTime())
		if err := s.WriteServiceRequest(ctx, store.ServiceRequestWrite{Request: r, Event: true, Audit: e}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ServiceRequestEvents(ctx, 0, 1<<30)
	if err != nil || len(all) != n {
		t.Fatalf("ServiceRequestEvents(0, all) = %d events, %v; want %d", len(all), err, n)
	}
	for i, ev := range all {
		if ev.Seq != uint64(i+1) || ev.Request.GetId() != storetest.ServiceRequestID(i) {
			t.Fatalf("event %d: seq %d request %s", i, ev.Seq, ev.Request.GetId())
		}
	}
	page, err := s.ServiceRequestEvents(ctx, auditChunk-3, auditChunk+5)
	if err != nil || len(page) != auditChunk+5 || page[0].Seq != auditChunk-2 {
		t.Fatalf("a page across chunks: %d events from %d, %v", len(page), page[0].Seq, err)
	}
	r, err := store.CheckAuditChain(ctx, s)
	if err != nil || !r.Intact || r.Entries != n {
		t.Fatalf("CheckAuditChain = %+v, %v; want intact with %d entries", r, err, n)
	}
	es, err := s.ListAudit(ctx, store.AuditFilter{}, 100, 1<<20)
	if err != nil || len(es) != n-100 || es[0].GetSeq() != 101 {
		t.Fatalf("ListAudit(after 100) = %d entries, %v", len(es), err)
	}
}
