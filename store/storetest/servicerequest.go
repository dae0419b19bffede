package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// srStart is when the suite's service requests are submitted.
var srStart = time.Date(2026, 5, 1, 10, 0, 0, 0, cst)

// ServiceRequestID returns a service request id of division 330604 that
// is unique for each n >= 0; ids sort in the order of n.
func ServiceRequestID(n int) string {
	return fmt.Sprintf("S330604-%013d", n)
}

// NewServiceRequest returns a SUBMITTED school enrolment request with this
// id for the permit with this id, submitted at srStart and due for
// delivery then, version 1.
func NewServiceRequest(id, permitID string) *epermitv1.ServiceRequest {
	p := NewPermit(permitID, CitizenID(1))
	submitted := epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED
	return &epermitv1.ServiceRequest{
		Id:              id,
		Service:         "school_enrolment",
		Scenario:        "schooling",
		Department:      "education",
		PermitId:        permitID,
		IssuingDivision: "330604",
		Holder:          p.Holder,
		Child:           &epermitv1.Child{Name: "测试者丁", CitizenId: CitizenID(2), BirthDate: "1960-01-01"},
		Fields:          map[string]string{"school": "百官小学", "grade": "1"},
		State:           submitted,
		RuleVersion:     "2026-01",
		Conditions:      []*epermitv1.Condition{{Description: "居住证有效", Expression: "permit.valid", Passed: true}},
		NextAttemptTime: timestamppb.New(srStart),
		History:         []*epermitv1.StateChange{{State: submitted, Time: timestamppb.New(srStart), Actor: "clerk.test-01"}},
		Version:         1,
		CreateTime:      timestamppb.New(srStart),
		UpdateTime:      timestamppb.New(srStart),
		SubmittedBy:     "clerk.test-01",
	}
}

// nextSR returns a copy of r at the next version, changed by change (nil
// for none).
func nextSR(r *epermitv1.ServiceRequest, change func(*epermitv1.ServiceRequest)) *epermitv1.ServiceRequest {
	n := proto.CloneOf(r)
	n.Version++
	if change != nil {
		change(n)
	}
	return n
}

// toState returns a change that moves a request to state st at time at,
// with its history entry, out of the outbox unless it is SUBMITTED.
func toState(st epermitv1.ServiceRequestState, at time.Time) func(*epermitv1.ServiceRequest) {
	return func(r *epermitv1.ServiceRequest) {
		r.State = st
		r.UpdateTime = timestamppb.New(at)
		r.History = append(r.History, &epermitv1.StateChange{State: st, Time: timestamppb.New(at), Actor: "outbox"})
		if st != epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED {
			r.NextAttemptTime = nil
		}
	}
}

// writeSR writes r with PrevVersion r.Version-1, under requestID when
// set, with an event when event is true.
func writeSR(t *testing.T, s store.Store, r *epermitv1.ServiceRequest, requestID string, event bool) error {
	w := store.ServiceRequestWrite{PrevVersion: r.GetVersion() - 1, Request: r, Event: event}
	if requestID != "" {
		w.RequestID, w.RequestHash = requestID, hashOf(requestID)
	}
	return s.WriteServiceRequest(t.Context(), w)
}

// mustWriteSR is writeSR that fails the test on error.
func mustWriteSR(t *testing.T, s store.Store, r *epermitv1.ServiceRequest, requestID string, event bool) {
	t.Helper()
	if err := writeSR(t, s, r, requestID, event); err != nil {
		t.Fatalf("WriteServiceRequest(%s v%d, request %q): %v", r.GetId(), r.GetVersion(), requestID, err)
	}
}

// wantSR fails the test unless the store holds exactly want.
func wantSR(t *testing.T, s store.Store, want *epermitv1.ServiceRequest) {
	t.Helper()
	wantStored(t, "GetServiceRequest", s.GetServiceRequest, want)
}

// wantStored fails the test unless get, a store's Get method called
// name, returns exactly want for want's id.
func wantStored[T interface {
	proto.Message
	GetId() string
}](t *testing.T, name string, get func(context.Context, string) (T, error), want T) {
	t.Helper()
	got, err := get(t.Context(), want.GetId())
	if err != nil {
		t.Fatalf("%s(%s): %v", name, want.GetId(), err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("%s(%s) =\n%v\nwant\n%v", name, want.GetId(), got, want)
	}
}

// listSRs lists the service requests that match filter page by page with
// pages of limit and returns their ids.
func listSRs(t *testing.T, s store.Store, filter store.ServiceRequestFilter, limit int) []string {
	t.Helper()
	return pageIDs(t, limit, func(after string) ([]*epermitv1.ServiceRequest, error) {
		return s.ListServiceRequests(t.Context(), filter, after, limit)
	})
}

// pageIDs reads pages of limit with fetch, each starting after the last id
// of the one before, until a page is short, and returns the ids in order.
// It fails the test when fetch fails, returns more than limit, or returns
// an id again (a page that does not move on).
func pageIDs[T interface{ GetId() string }](t *testing.T, limit int, fetch func(after string) ([]T, error)) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	for after := ""; ; {
		page, err := fetch(after)
		if err != nil {
			t.Fatalf("list after %q, pages of %d: %v", after, limit, err)
		}
		if len(page) > limit {
			t.Fatalf("list returned %d, more than the limit %d", len(page), limit)
		}
		for _, v := range page {
			if seen[v.GetId()] {
				t.Fatalf("list after %q, pages of %d, returned %s again", after, limit, v.GetId())
			}
			seen[v.GetId()] = true
			ids = append(ids, v.GetId())
		}
		if len(page) < limit {
			return ids
		}
		after = page[len(page)-1].GetId()
	}
}

// wantOneWon fails the test unless exactly one of the errors of racing
// writes (from race) is nil and every other one is refused.
func wantOneWon(t *testing.T, what string, errs []error, refused error) {
	t.Helper()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantErr(t, "one of "+what, err, refused)
	}
	if won != 1 {
		t.Fatalf("%d of %d %s succeeded, want 1", won, len(errs), what)
	}
}

// claim returns ClaimDeliveries(now, lease, limit) or fails the test.
func claim(t *testing.T, s store.Store, now time.Time, lease time.Duration, limit int) []*epermitv1.ServiceRequest {
	t.Helper()
	rs, err := s.ClaimDeliveries(t.Context(), now, lease, limit)
	if err != nil {
		t.Fatalf("ClaimDeliveries(%v, %v, %d): %v", now, lease, limit, err)
	}
	if len(rs) > max(limit, 0) {
		t.Fatalf("ClaimDeliveries(%v, %v, %d) returned %d requests", now, lease, limit, len(rs))
	}
	return rs
}

// dueIDs returns the ids of ClaimDeliveries(now, 1ns, limit), in order.
// Its claims hold for a nanosecond, so a later call with a later now
// sees the outbox as if nothing had been claimed.
func dueIDs(t *testing.T, s store.Store, now time.Time, limit int) []string {
	t.Helper()
	return idsFrom(claim(t, s, now, time.Nanosecond, limit))
}

// events returns ServiceRequestEvents(afterSeq, limit) or fails the test.
func events(t *testing.T, s store.Store, afterSeq uint64, limit int) []store.ServiceRequestEvent {
	t.Helper()
	es, err := s.ServiceRequestEvents(t.Context(), afterSeq, limit)
	if err != nil {
		t.Fatalf("ServiceRequestEvents(%d, %d): %v", afterSeq, limit, err)
	}
	return es
}

// wantEvents fails the test unless the event log holds exactly want, in
// order, with seqs from 1 without gaps, and returns it.
func wantEvents(t *testing.T, s store.Store, want ...*epermitv1.ServiceRequest) []store.ServiceRequestEvent {
	t.Helper()
	es := events(t, s, 0, math.MaxInt)
	if len(es) != len(want) {
		t.Fatalf("event log holds %d events, want %d", len(es), len(want))
	}
	if head, err := s.ServiceRequestEventHead(t.Context()); err != nil || head != uint64(len(want)) {
		t.Fatalf("ServiceRequestEventHead = %d, %v; want %d", head, err, len(want))
	}
	for i, e := range es {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i+1, e.Seq)
		}
		if want[i] != nil && !proto.Equal(e.Request, want[i]) {
			t.Fatalf("event %d =\n%v\nwant\n%v", e.Seq, e.Request, want[i])
		}
	}
	return es
}

// testServiceRequests checks create, read, versions and the refusals of
// WriteServiceRequest.
func testServiceRequests(t *testing.T, b Backend) {
	s := open(t, b)
	r := NewServiceRequest(ServiceRequestID(1), PermitID(1))
	_, err := s.GetServiceRequest(t.Context(), r.Id)
	wantErr(t, "GetServiceRequest before the write", err, store.ErrNotFound)
	mustWriteSR(t, s, r, "", true)
	wantSR(t, s, r)
	_, err = s.GetServiceRequest(t.Context(), ServiceRequestID(2))
	wantErr(t, "GetServiceRequest of another id", err, store.ErrNotFound)

	wantErr(t, "creating a taken id", writeSR(t, s, proto.CloneOf(r), "", true), store.ErrConflict)

	routed := epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED
	v2 := nextSR(r, toState(routed, srStart.Add(time.Minute)))
	mustWriteSR(t, s, v2, "", true)
	wantSR(t, s, v2)
	stale := nextSR(r, func(r *epermitv1.ServiceRequest) { r.Reason = "stale" })
	wantErr(t, "a write from a stale version", writeSR(t, s, stale, "", true), store.ErrConflict)
	wantSR(t, s, v2)

	missing := NewServiceRequest(ServiceRequestID(2), PermitID(2))
	missing.Version = 3
	wantErr(t, "a change of a missing request", writeSR(t, s, missing, "", true), store.ErrNotFound)
	_, err = s.GetServiceRequest(t.Context(), missing.Id)
	wantErr(t, "GetServiceRequest after a refused change", err, store.ErrNotFound)

	// The version must follow PrevVersion.
	bad := nextSR(v2, nil)
	if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{PrevVersion: 0, Request: bad}); err == nil {
		t.Fatal("a write whose version does not follow PrevVersion succeeded")
	}
	if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{}); err == nil {
		t.Fatal("a write without a request succeeded")
	}
	wantSR(t, s, v2)

	// The store keeps its own copy: changing what was written or read
	// changes nothing stored.
	stored := proto.CloneOf(v2)
	got, err := s.GetServiceRequest(t.Context(), v2.Id)
	if err != nil {
		t.Fatal(err)
	}
	got.State, v2.Fields["school"] = epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED, "changed"
	wantSR(t, s, stored)
	wantEvents(t, s, r, stored)
}

// testServiceRequestIdempotency checks request ids: a reused id is refused
// and changes nothing, Replay returns the request as that write stored it,
// a refused write does not take its request id, and of concurrent writes
// under one request id exactly one lands.
func testServiceRequestIdempotency(t *testing.T, b Backend) {
	s := open(t, b)
	r := NewServiceRequest(ServiceRequestID(1), PermitID(1))
	mustWriteSR(t, s, r, "submit-1", true)
	rp, err := s.Replay(t.Context(), "submit-1")
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if string(rp.RequestHash) != string(hashOf("submit-1")) || !proto.Equal(rp.ServiceRequest, r) ||
		rp.Permit != nil || rp.Application != nil || rp.Pending != nil {
		t.Fatalf("Replay = %+v, want the hash and only the request as written", rp)
	}
	cancelled := epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_CANCELLED
	v2 := nextSR(r, toState(cancelled, srStart.Add(time.Hour)))
	wantErr(t, "a reused request id", writeSR(t, s, v2, "submit-1", true), store.ErrDuplicateRequest)
	wantSR(t, s, r)
	wantErr(t, "a reused request id of another write kind", writeApp(t, s, NewApplication(ApplicationID(1), CitizenID(1)), "submit-1"), store.ErrDuplicateRequest)

	stale := nextSR(r, nil)
	stale.Version = 5
	wantErr(t, "a stale write", s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{
		RequestID: "cancel-1", RequestHash: hashOf("cancel-1"), PrevVersion: 4, Request: stale, Event: true,
	}), store.ErrConflict)
	wantNoReplay(t, s, "cancel-1")
	mustWriteSR(t, s, v2, "cancel-1", true)
	rp, err = s.Replay(t.Context(), "cancel-1")
	if err != nil || !proto.Equal(rp.ServiceRequest, v2) {
		t.Fatalf("Replay(cancel-1) = %v, %v; want version 2", rp, err)
	}
	// A later change does not alter what the earlier one replays.
	v3 := nextSR(v2, func(r *epermitv1.ServiceRequest) { r.Reason = "later" })
	mustWriteSR(t, s, v3, "", false)
	if rp, err = s.Replay(t.Context(), "cancel-1"); err != nil || !proto.Equal(rp.ServiceRequest, v2) {
		t.Fatalf("Replay(cancel-1) after a later change = %v, %v; want version 2", rp, err)
	}

	// Concurrent writes of one request id: exactly one wins, with its one
	// event.
	before := len(events(t, s, 0, math.MaxInt))
	errs := race(8, func(i int) error {
		return writeSR(t, s, NewServiceRequest(ServiceRequestID(10+i), PermitID(1)), "same-request", true)
	})
	wantOneWon(t, "concurrent writes of one request id", errs, store.ErrDuplicateRequest)
	if n := len(events(t, s, 0, math.MaxInt)); n != before+1 {
		t.Fatalf("event log grew by %d, want 1", n-before)
	}
	if n := len(dueIDs(t, s, srStart, 100)); n != 1 {
		t.Fatalf("%d requests due, want the one that won", n)
	}
}

// testServiceRequestList checks the order (newest first), pages, each
// filter and their combination, and that a change of state moves a
// request between the state filters.
func testServiceRequestList(t *testing.T, b Backend) {
	s := open(t, b)
	states := []epermitv1.ServiceRequestState{
		epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED,
		epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED,
		epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED,
	}
	departments := []string{"education", "health", "housing", "labour"}
	var all []*epermitv1.ServiceRequest
	// Written in random order; ids 0..14.
	for _, i := range rand.Perm(15) {
		r := NewServiceRequest(ServiceRequestID(i), PermitID(i%3))
		r.State = states[i%len(states)]
		r.Department = departments[i%len(departments)]
		// Create times not in id order: 0, 1, 2, 3, 4 hours, then again.
		r.CreateTime = timestamppb.New(srStart.Add(time.Duration(i%5) * time.Hour))
		mustWriteSR(t, s, r, "", true)
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b *epermitv1.ServiceRequest) int { return cmp.Compare(b.Id, a.Id) })
	idsOf := func(keep func(*epermitv1.ServiceRequest) bool) []string {
		ids := []string{}
		for _, r := range all {
			if keep(r) {
				ids = append(ids, r.Id)
			}
		}
		return ids
	}
	routed := states[1]
	for _, tt := range []struct {
		name   string
		filter store.ServiceRequestFilter
	}{
		{"all", store.ServiceRequestFilter{}},
		{"permit", store.ServiceRequestFilter{PermitID: PermitID(1)}},
		{"permit without requests", store.ServiceRequestFilter{PermitID: PermitID(9)}},
		{"permit id prefix of another", store.ServiceRequestFilter{PermitID: PermitID(1)[:10]}},
		{"state", store.ServiceRequestFilter{State: routed}},
		{"department", store.ServiceRequestFilter{Department: "health"}},
		{"start", store.ServiceRequestFilter{Start: srStart.Add(2 * time.Hour)}},
		{"end", store.ServiceRequestFilter{End: srStart.Add(2 * time.Hour)}},
		{"start and end", store.ServiceRequestFilter{Start: srStart.Add(time.Hour), End: srStart.Add(3 * time.Hour)}},
		{"permit and state", store.ServiceRequestFilter{PermitID: PermitID(2), State: routed}},
		{"department and start", store.ServiceRequestFilter{Department: "education", Start: srStart.Add(time.Hour)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := idsOf(tt.filter.Matches)
			for _, limit := range []int{1, 2, 5, 100} {
				if got := listSRs(t, s, tt.filter, limit); !slices.Equal(got, want) {
					t.Fatalf("pages of %d = %q, want %q", limit, got, want)
				}
			}
		})
	}
	if got := idsOf(store.ServiceRequestFilter{PermitID: PermitID(1)}.Matches); len(got) != 5 {
		t.Fatalf("the suite's data gives permit 1 %d requests, want 5", len(got))
	}
	// after is exclusive, and need not be a stored id.
	page, err := s.ListServiceRequests(t.Context(), store.ServiceRequestFilter{}, ServiceRequestID(7), 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := idsFrom(page); !slices.Equal(got, []string{ServiceRequestID(6), ServiceRequestID(5), ServiceRequestID(4)}) {
		t.Fatalf("the page after %s = %q", ServiceRequestID(7), got)
	}
	page, err = s.ListServiceRequests(t.Context(), store.ServiceRequestFilter{PermitID: PermitID(1)}, ServiceRequestID(7)+"x", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := idsFrom(page); !slices.Equal(got, []string{ServiceRequestID(7), ServiceRequestID(4)}) {
		t.Fatalf("the page of permit 1 after %s = %q", ServiceRequestID(7)+"x", got)
	}
	for _, limit := range []int{0, -1} {
		if page, err := s.ListServiceRequests(t.Context(), store.ServiceRequestFilter{}, "", limit); err != nil || len(page) != 0 {
			t.Fatalf("ListServiceRequests with limit %d = %d requests, %v; want none", limit, len(page), err)
		}
	}

	// A change of state moves the request between the state filters.
	moved := all[0]
	if moved.State == routed {
		t.Fatalf("the suite's newest request is already ROUTED")
	}
	mustWriteSR(t, s, nextSR(moved, toState(routed, srStart.Add(5*time.Hour))), "", true)
	if got := listSRs(t, s, store.ServiceRequestFilter{State: routed}, 2); !slices.Contains(got, moved.Id) {
		t.Fatalf("ROUTED requests %q do not hold %s, routed now", got, moved.Id)
	}
	if got := listSRs(t, s, store.ServiceRequestFilter{State: moved.State}, 2); slices.Contains(got, moved.Id) {
		t.Fatalf("%v requests %q still hold %s, routed now", moved.State, got, moved.Id)
	}
	if got := listSRs(t, s, store.ServiceRequestFilter{PermitID: moved.PermitId}, 3); !slices.Contains(got, moved.Id) {
		t.Fatalf("requests of permit %s %q lost %s on a change", moved.PermitId, got, moved.Id)
	}

	// A change of permit id moves the request to the other permit.
	r, err := s.GetServiceRequest(t.Context(), ServiceRequestID(4))
	if err != nil {
		t.Fatal(err)
	}
	from, to := r.PermitId, PermitID(2)
	mustWriteSR(t, s, nextSR(r, func(r *epermitv1.ServiceRequest) { r.PermitId = to }), "", false)
	if got := listSRs(t, s, store.ServiceRequestFilter{PermitID: from}, 2); slices.Contains(got, r.Id) {
		t.Fatalf("requests of permit %s %q still hold %s, moved to %s", from, got, r.Id, to)
	}
	if got := listSRs(t, s, store.ServiceRequestFilter{PermitID: to}, 2); !slices.Contains(got, r.Id) {
		t.Fatalf("requests of permit %s %q do not hold %s, moved there", to, got, r.Id)
	}
	// A request without a permit id is listed, but under no permit.
	none := NewServiceRequest(ServiceRequestID(20), "")
	mustWriteSR(t, s, none, "", false)
	if got := listSRs(t, s, store.ServiceRequestFilter{}, 1); len(got) == 0 || got[0] != none.Id {
		t.Fatalf("requests %q, want %s, the newest, first", got, none.Id)
	}
}

// idsFrom returns the ids of rs.
func idsFrom(rs []*epermitv1.ServiceRequest) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.GetId()
	}
	return ids
}

// testServiceRequestOutbox checks the order in which ClaimDeliveries
// takes due requests: earliest first, then by id; the limit; nothing due
// before its time; a change that moves next_attempt_time moves the
// request in the outbox, and one that clears it takes it out. Its claims
// hold for a nanosecond, each at a later time than the one before, so
// that each sees the whole outbox (claims that last: ServiceRequestClaims).
func testServiceRequestOutbox(t *testing.T, b Backend) {
	s := b.Open(t)
	t.Cleanup(func() { s.Close() }) // the store open when the test ends
	if got := dueIDs(t, s, srStart.Add(-time.Hour), 10); len(got) != 0 {
		t.Fatalf("due in an empty store: %q", got)
	}
	// Request i is due at srStart + at[i] minutes.
	at := []int{30, 10, 20, 10, 40, 0}
	rs := make([]*epermitv1.ServiceRequest, len(at))
	for i, m := range at {
		rs[i] = NewServiceRequest(ServiceRequestID(i), PermitID(i))
		rs[i].NextAttemptTime = timestamppb.New(srStart.Add(time.Duration(m) * time.Minute))
		mustWriteSR(t, s, rs[i], "", true)
	}
	// One not in the outbox at all.
	done := NewServiceRequest(ServiceRequestID(9), PermitID(9))
	done.NextAttemptTime = nil
	mustWriteSR(t, s, done, "", true)

	id := ServiceRequestID
	minute := func(m int) time.Time { return srStart.Add(time.Duration(m) * time.Minute) }
	for _, tt := range []struct {
		now   time.Time
		limit int
		want  []string
	}{
		{srStart.Add(-time.Nanosecond), 10, nil},
		{srStart, 10, []string{id(5)}},
		{minute(10).Add(-time.Nanosecond), 10, []string{id(5)}},
		{minute(10), 2, []string{id(5), id(1)}},
		{minute(10).Add(time.Nanosecond), 10, []string{id(5), id(1), id(3)}},
		{minute(25), 10, []string{id(5), id(1), id(3), id(2)}},
		{minute(60), 0, nil},
		{minute(60), 10, []string{id(5), id(1), id(3), id(2), id(0), id(4)}},
	} {
		if got := dueIDs(t, s, tt.now, tt.limit); !slices.Equal(got, tt.want) {
			t.Fatalf("ClaimDeliveries(+%v, %d) = %q, want %q", tt.now.Sub(srStart), tt.limit, got, tt.want)
		}
	}
	got := claim(t, s, minute(61), time.Nanosecond, 1)
	if len(got) != 1 || !proto.Equal(got[0], rs[5]) {
		t.Fatalf("ClaimDeliveries returned %v; want request 5 as stored", got)
	}

	// A failed attempt moves request 5 to minute 90: it leaves its old
	// place and is listed once, at the new one.
	retry := nextSR(rs[5], func(r *epermitv1.ServiceRequest) {
		r.Attempts++
		r.NextAttemptTime = timestamppb.New(minute(90))
	})
	mustWriteSR(t, s, retry, "", false)
	if got := dueIDs(t, s, minute(85), 10); !slices.Equal(got, []string{id(1), id(3), id(2), id(0), id(4)}) {
		t.Fatalf("due at +85m after moving request 5 to +90m: %q", got)
	}
	if got := dueIDs(t, s, minute(100), 10); !slices.Equal(got, []string{id(1), id(3), id(2), id(0), id(4), id(5)}) {
		t.Fatalf("due at +100m after moving request 5 to +90m: %q", got)
	}
	// A change that keeps the time keeps the request once.
	same := nextSR(rs[2], func(r *epermitv1.ServiceRequest) { r.Reason = "unchanged time" })
	mustWriteSR(t, s, same, "", false)
	// Delivery takes request 1 out; a refused write leaves it all alone.
	routed := nextSR(rs[1], toState(epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, minute(11)))
	mustWriteSR(t, s, routed, "", true)
	stale := nextSR(rs[2], toState(epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, minute(12)))
	wantErr(t, "a stale delivery", writeSR(t, s, stale, "", true), store.ErrConflict)
	wantDue := []string{id(3), id(2), id(0), id(4), id(5)}
	if got := dueIDs(t, s, minute(101), 10); !slices.Equal(got, wantDue) {
		t.Fatalf("due after delivering request 1: %q, want %q", got, wantDue)
	}
	due := claim(t, s, minute(102), time.Nanosecond, 10)
	if len(due) != len(wantDue) || !proto.Equal(due[1], same) || !proto.Equal(due[4], retry) {
		t.Fatalf("ClaimDeliveries returned %v, want %d requests, request 2 and 5 as last written", due, len(wantDue))
	}
	// A retry puts a failed request back.
	failed := nextSR(routed, toState(epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_FAILED, minute(12)))
	mustWriteSR(t, s, failed, "", true)
	back := nextSR(failed, toState(epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_SUBMITTED, minute(110)))
	back.NextAttemptTime = timestamppb.New(minute(110))
	mustWriteSR(t, s, back, "", true)
	if got := dueIDs(t, s, minute(110), 10); !slices.Equal(got, append(wantDue, id(1))) {
		t.Fatalf("due after a retry of request 1: %q", got)
	}

	// The outbox lasts across a reopen.
	s = b.Reopen(t, s)
	if got := dueIDs(t, s, minute(111), 10); !slices.Equal(got, append(wantDue, id(1))) {
		t.Fatalf("due after a reopen: %q", got)
	}
	// So do the requests by permit.
	for i := range at {
		if got := listSRs(t, s, store.ServiceRequestFilter{PermitID: PermitID(i)}, 10); !slices.Equal(got, []string{id(i)}) {
			t.Fatalf("requests of permit %d after a reopen: %q, want %s", i, got, id(i))
		}
	}
}

// testServiceRequestEvents checks the event log: one event per write with
// Event set, none without, seqs from 1 without gaps, each event the request
// as written, and paging by afterSeq.
func testServiceRequestEvents(t *testing.T, b Backend) {
	s := b.Open(t)
	t.Cleanup(func() { s.Close() }) // the store open when the test ends
	if es := events(t, s, 0, 10); len(es) != 0 {
		t.Fatalf("events in an empty store: %v", es)
	}
	var want []*epermitv1.ServiceRequest
	for i := range 4 {
		r := NewServiceRequest(ServiceRequestID(i), PermitID(i))
		mustWriteSR(t, s, r, "", true)
		want = append(want, r)
		quiet := nextSR(r, func(r *epermitv1.ServiceRequest) { r.Attempts++ })
		mustWriteSR(t, s, quiet, "", false)
		routed := nextSR(quiet, toState(epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, srStart.Add(time.Minute)))
		mustWriteSR(t, s, routed, "", true)
		want = append(want, routed)
	}
	es := wantEvents(t, s, want...)
	if last := es[len(es)-1].Request.GetHistory(); last[len(last)-1].GetState() != epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED {
		t.Fatalf("the last event's last history entry is %v, want the change to ROUTED", last[len(last)-1])
	}
	for _, limit := range []int{1, 3, 8, 100} {
		var seqs []uint64
		for after := uint64(0); ; {
			page := events(t, s, after, limit)
			if len(page) > limit {
				t.Fatalf("ServiceRequestEvents returned %d, more than the limit %d", len(page), limit)
			}
			for _, e := range page {
				seqs = append(seqs, e.Seq)
				if !proto.Equal(e.Request, want[e.Seq-1]) {
					t.Fatalf("event %d read in pages of %d differs", e.Seq, limit)
				}
			}
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].Seq
		}
		if len(seqs) != len(want) || seqs[0] != 1 || seqs[len(seqs)-1] != uint64(len(want)) {
			t.Fatalf("pages of %d gave seqs %v", limit, seqs)
		}
	}
	for _, tt := range []struct {
		after uint64
		limit int
		n     int
	}{{5, 2, 2}, {7, 10, 1}, {8, 10, 0}, {100, 10, 0}, {math.MaxUint64, 10, 0}, {0, 0, 0}} {
		page := events(t, s, tt.after, tt.limit)
		if len(page) != tt.n || (tt.n > 0 && page[0].Seq != tt.after+1) {
			t.Fatalf("ServiceRequestEvents(%d, %d) = %d events from %v, want %d from %d", tt.after, tt.limit, len(page), page, tt.n, tt.after+1)
		}
	}
	// The log continues across a reopen without a gap.
	s = b.Reopen(t, s)
	r := NewServiceRequest(ServiceRequestID(10), PermitID(10))
	mustWriteSR(t, s, r, "", true)
	wantEvents(t, s, append(want, r)...)
}

// testServiceRequestAtomic checks that a write lands with its audit entry,
// event and outbox key together, and that a refused write lands nothing:
// no request, no event, no outbox key, no audit entry, no request id.
func testServiceRequestAtomic(t *testing.T, b Backend) {
	s := open(t, b)
	r := NewServiceRequest(ServiceRequestID(1), PermitID(1))
	method := "/epermit.v1.ScenarioService/SubmitServiceRequest"
	e := NewAuditEntry("clerk.test-01", method, r.Id, srStart)
	if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{
		RequestID: "submit-1", RequestHash: hashOf("submit-1"), Request: r, Event: true, Audit: e,
	}); err != nil {
		t.Fatalf("WriteServiceRequest: %v", err)
	}
	log := wantChain(t, s, 1)
	if log[0].GetTarget() != r.Id || log[0].GetMethod() != method {
		t.Fatalf("audit entry %v, want the submit of %s", log[0], r.Id)
	}
	wantEntry(t, s, e)

	later := srStart.Add(time.Hour)
	for i, tt := range []struct {
		name string
		w    store.ServiceRequestWrite
		want error
	}{
		{"a reused request id", store.ServiceRequestWrite{RequestID: "submit-1", PrevVersion: 1,
			Request: nextSR(r, func(r *epermitv1.ServiceRequest) { r.NextAttemptTime = timestamppb.New(later) })}, store.ErrDuplicateRequest},
		{"a second create", store.ServiceRequestWrite{RequestID: "create-again",
			Request: proto.CloneOf(r)}, store.ErrConflict},
		{"a stale change", store.ServiceRequestWrite{RequestID: "stale", PrevVersion: 2,
			Request: func() *epermitv1.ServiceRequest { n := nextSR(nextSR(r, nil), nil); n.NextAttemptTime = nil; return n }()}, store.ErrConflict},
		{"a change of a missing request", store.ServiceRequestWrite{RequestID: "missing", PrevVersion: 1,
			Request: nextSR(NewServiceRequest(ServiceRequestID(2), PermitID(2)), nil)}, store.ErrNotFound},
	} {
		check := later.AddDate(1, 0, 0).Add(time.Duration(i) * time.Minute) // later than the claim before
		tt.w.RequestHash, tt.w.Event = hashOf(tt.w.RequestID), true
		tt.w.Audit = NewAuditEntry("clerk.test-01", method, tt.w.Request.Id, later)
		if err := s.WriteServiceRequest(t.Context(), tt.w); !errors.Is(err, tt.want) {
			t.Fatalf("%s: got error %v, want %v", tt.name, err, tt.want)
		}
		wantChain(t, s, 1)
		wantEvents(t, s, r)
		wantSR(t, s, r)
		if got := dueIDs(t, s, check, 10); !slices.Equal(got, []string{r.Id}) {
			t.Fatalf("%s: due %q, want only %s", tt.name, got, r.Id)
		}
		if got := listSRs(t, s, store.ServiceRequestFilter{}, 10); !slices.Equal(got, []string{r.Id}) {
			t.Fatalf("%s: requests %q, want only %s", tt.name, got, r.Id)
		}
		if tt.w.RequestID != "submit-1" {
			wantNoReplay(t, s, tt.w.RequestID)
		}
	}
	// The change that passes lands whole.
	v2 := nextSR(r, func(r *epermitv1.ServiceRequest) { r.NextAttemptTime = timestamppb.New(later) })
	if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{
		RequestID: "retry-1", RequestHash: hashOf("retry-1"), PrevVersion: 1, Request: v2, Event: true,
		Audit: NewAuditEntry("outbox", method, r.Id, later),
	}); err != nil {
		t.Fatalf("WriteServiceRequest: %v", err)
	}
	wantChain(t, s, 2)
	wantEvents(t, s, r, v2)
	if got := dueIDs(t, s, later.Add(-time.Nanosecond), 10); len(got) != 0 {
		t.Fatalf("due before the moved time: %q", got)
	}
}

// testServiceRequestConcurrent runs many writers, each creating its own
// request and changing it several times, with readers of every kind beside
// them, then races changes computed from one version: every write lands
// once, the event log has no gaps and holds each request's changes in
// order, and the outbox and audit log agree.
func testServiceRequestConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	const writers, changes = 16, 4
	method := "/epermit.v1.ScenarioService/SubmitServiceRequest"
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				page, err := s.ListServiceRequests(t.Context(), store.ServiceRequestFilter{PermitID: PermitID(1)}, "", writers)
				if err != nil {
					t.Errorf("ListServiceRequests: %v", err)
				}
				for i, r := range page {
					if r.GetPermitId() != PermitID(1) || (i > 0 && r.GetId() >= page[i-1].GetId()) {
						t.Errorf("requests of permit 1 listed as %q", idsFrom(page))
						break
					}
				}
				if _, err := s.ClaimDeliveries(t.Context(), srStart, time.Nanosecond, 10); err != nil {
					t.Errorf("ClaimDeliveries: %v", err)
				}
				es, err := s.ServiceRequestEvents(t.Context(), 0, math.MaxInt)
				if err != nil {
					t.Errorf("ServiceRequestEvents: %v", err)
				}
				for i, e := range es {
					if e.Seq != uint64(i+1) {
						t.Errorf("a reader saw event %d at position %d", e.Seq, i+1)
						break
					}
				}
			}
		})
	}
	for i := range writers {
		wg.Go(func() {
			r := NewServiceRequest(ServiceRequestID(i), PermitID(i%3))
			if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{
				RequestID: fmt.Sprintf("submit-%d", i), RequestHash: hashOf("submit"), Request: r, Event: true,
				Audit: NewAuditEntry("clerk.test-01", method, r.Id, srStart),
			}); err != nil {
				t.Errorf("create %s: %v", r.Id, err)
				return
			}
			for c := range changes {
				r = nextSR(r, func(r *epermitv1.ServiceRequest) {
					r.Attempts++
					r.NextAttemptTime = timestamppb.New(srStart.Add(time.Duration(c+1) * time.Minute))
				})
				if err := s.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{
					PrevVersion: r.Version - 1, Request: r, Event: true,
					Audit: NewAuditEntry("outbox", method, r.Id, srStart),
				}); err != nil {
					t.Errorf("change %s to version %d: %v", r.Id, r.Version, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if t.Failed() {
		return
	}
	n := writers * (1 + changes)
	es := wantEvents(t, s, make([]*epermitv1.ServiceRequest, n)...)
	last := map[string]int64{}
	for _, e := range es {
		if v := e.Request.GetVersion(); v != last[e.Request.GetId()]+1 {
			t.Fatalf("event %d holds %s version %d after version %d", e.Seq, e.Request.GetId(), v, last[e.Request.GetId()])
		}
		last[e.Request.GetId()] = e.Request.GetVersion()
	}
	wantChain(t, s, n)
	if got := dueIDs(t, s, srStart.Add(time.Duration(changes-1)*time.Minute), 100); len(got) != 0 {
		t.Fatalf("due before the last moved time: %q", got)
	}
	if got := dueIDs(t, s, srStart.Add(time.Duration(changes)*time.Minute), 100); len(got) != writers {
		t.Fatalf("%d requests due, want %d (one key each)", len(got), writers)
	}

	// Changes computed from one version race: exactly one lands, with one
	// event.
	r, err := s.GetServiceRequest(t.Context(), ServiceRequestID(0))
	if err != nil {
		t.Fatal(err)
	}
	errs := race(8, func(i int) error {
		return writeSR(t, s, nextSR(r, func(r *epermitv1.ServiceRequest) {
			r.NextAttemptTime = timestamppb.New(srStart.Add(time.Duration(100+i) * time.Minute))
		}), "", true)
	})
	wantOneWon(t, "racing changes from one version", errs, store.ErrConflict)
	wantEvents(t, s, make([]*epermitv1.ServiceRequest, n+1)...)
	if got := dueIDs(t, s, srStart.AddDate(0, 0, 1), 100); len(got) != writers || got[writers-1] != r.Id {
		t.Fatalf("due after the race: %q, want %d with %s last", got, writers, r.Id)
	}
}
