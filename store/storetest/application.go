package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
	"github.com/yrd-epermit/epermit/store"
)

// appStart is when the suite's applications are accepted.
var appStart = time.Date(2026, 4, 1, 10, 0, 0, 0, cst)

// ApplicationID returns an application id of division 330604 that is
// unique for each n >= 0; ids sort in the order of n.
func ApplicationID(n int) string {
	return fmt.Sprintf("A330604-%013d", n)
}

// NewApplication returns an ACCEPTED hall application with this id, by
// the citizen with this citizen id, accepted at appStart with a 15-day
// deadline, version 1.
func NewApplication(id, citizenID string) *epermitv1.Application {
	p := NewPermit(PermitID(0), citizenID)
	deadline := appStart.AddDate(0, 0, 15)
	return &epermitv1.Application{
		Id:                 id,
		Holder:             p.Holder,
		ResidenceAddress:   p.ResidenceAddress,
		ResidenceStartDate: "2025-09-01",
		Channel:            epermitv1.ApplicationChannel_APPLICATION_CHANNEL_HALL,
		TargetDivision:     "330604",
		AcceptingDivision:  "330604",
		MaterialsProvided:  []string{"id_card", "photo", "residence_proof", "employment_proof"},
		State:              epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED,
		AcceptTime:         timestamppb.New(appStart),
		Deadline:           timestamppb.New(deadline),
		DeadlineDays:       15,
		SubmittedBy:        "clerk.test-01",
		Version:            1,
		CreateTime:         timestamppb.New(appStart),
		UpdateTime:         timestamppb.New(appStart),
	}
}

// nextApp returns a copy of a at the next version, changed by change.
func nextApp(a *epermitv1.Application, change func(*epermitv1.Application)) *epermitv1.Application {
	n := proto.Clone(a).(*epermitv1.Application)
	n.Version++
	change(n)
	return n
}

// writeApp writes a with PrevVersion a.Version-1, under requestID when set.
func writeApp(t *testing.T, s store.Store, a *epermitv1.Application, requestID string) error {
	w := store.ApplicationWrite{PrevVersion: a.GetVersion() - 1, Application: a}
	if requestID != "" {
		w.RequestID, w.RequestHash = requestID, hashOf(requestID)
	}
	return s.WriteApplication(t.Context(), w)
}

// mustWriteApp is writeApp that fails the test on error.
func mustWriteApp(t *testing.T, s store.Store, a *epermitv1.Application, requestID string) {
	t.Helper()
	if err := writeApp(t, s, a, requestID); err != nil {
		t.Fatalf("WriteApplication(%s v%d, request %q): %v", a.GetId(), a.GetVersion(), requestID, err)
	}
}

// wantApp fails the test unless the store holds exactly want.
func wantApp(t *testing.T, s store.Store, want *epermitv1.Application) {
	t.Helper()
	wantStored(t, "GetApplication", s.GetApplication, want)
}

// listApps lists the applications that match filter page by page with
// pages of limit and returns their ids.
func listApps(t *testing.T, s store.Store, filter store.ApplicationFilter, limit int) []string {
	t.Helper()
	return pageIDs(t, limit, func(after string) ([]*epermitv1.Application, error) {
		return s.ListApplications(t.Context(), filter, after, limit)
	})
}

// count returns CountApplications(filter) or fails the test.
func count(t *testing.T, s store.Store, filter store.ApplicationFilter) int {
	t.Helper()
	n, err := s.CountApplications(t.Context(), filter)
	if err != nil {
		t.Fatalf("CountApplications(%+v): %v", filter, err)
	}
	return n
}

// testApplications checks create, read, versions and the refusals of
// WriteApplication.
func testApplications(t *testing.T, b Backend) {
	s := open(t, b)
	a := NewApplication(ApplicationID(1), CitizenID(1))
	_, err := s.GetApplication(t.Context(), a.Id)
	wantErr(t, "GetApplication before the write", err, store.ErrNotFound)
	mustWriteApp(t, s, a, "")
	wantApp(t, s, a)

	again := proto.Clone(a).(*epermitv1.Application)
	wantErr(t, "creating a taken id", writeApp(t, s, again, ""), store.ErrConflict)

	v2 := nextApp(a, func(a *epermitv1.Application) { a.PermitId = PermitID(7) })
	mustWriteApp(t, s, v2, "")
	wantApp(t, s, v2)
	stale := nextApp(a, func(a *epermitv1.Application) { a.PermitId = PermitID(8) })
	wantErr(t, "a write from a stale version", writeApp(t, s, stale, ""), store.ErrConflict)
	wantApp(t, s, v2)

	missing := NewApplication(ApplicationID(2), CitizenID(2))
	missing.Version = 3
	wantErr(t, "a change of a missing application", writeApp(t, s, missing, ""), store.ErrNotFound)
	if err := writeApp(t, s, nextApp(v2, func(*epermitv1.Application) {}), ""); err != nil {
		t.Fatalf("a change with the right version: %v", err)
	}
	// The version must follow PrevVersion.
	bad := nextApp(v2, func(*epermitv1.Application) {})
	if err := s.WriteApplication(t.Context(), store.ApplicationWrite{PrevVersion: 0, Application: bad}); err == nil {
		t.Fatal("a write whose version does not follow PrevVersion succeeded")
	}
}

// testApplicationIdempotency checks request ids: a reused id is refused and
// changes nothing, Replay returns the application as that write stored it,
// and a refused write does not take its request id.
func testApplicationIdempotency(t *testing.T, b Backend) {
	s := open(t, b)
	a := NewApplication(ApplicationID(1), CitizenID(1))
	mustWriteApp(t, s, a, "submit-1")
	r, err := s.Replay(t.Context(), "submit-1")
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if string(r.RequestHash) != string(hashOf("submit-1")) || !proto.Equal(r.GetApplication(), a) || r.Permit != nil {
		t.Fatalf("Replay = %x %v %v, want the hash and the application as written", r.RequestHash, r.GetApplication(), r.Permit)
	}
	v2 := nextApp(a, func(a *epermitv1.Application) {
		a.State = epermitv1.ApplicationState_APPLICATION_STATE_REJECTED
		a.RejectionReasons = []string{"不符合条件"}
	})
	wantErr(t, "a reused request id", writeApp(t, s, v2, "submit-1"), store.ErrDuplicateRequest)
	wantApp(t, s, a)

	stale := nextApp(a, func(a *epermitv1.Application) {})
	stale.Version = 5
	wantErr(t, "a stale write", s.WriteApplication(t.Context(), store.ApplicationWrite{
		RequestID: "reject-1", RequestHash: hashOf("reject-1"), PrevVersion: 4, Application: stale,
	}), store.ErrConflict)
	wantNoReplay(t, s, "reject-1")
	mustWriteApp(t, s, v2, "reject-1")
	r, err = s.Replay(t.Context(), "reject-1")
	if err != nil || !proto.Equal(r.GetApplication(), v2) {
		t.Fatalf("Replay(reject-1) = %v, %v; want version 2", r.GetApplication(), err)
	}

	// Concurrent writes of one request id: exactly one wins.
	c := NewApplication(ApplicationID(9), CitizenID(9))
	errs := race(8, func(i int) error {
		n := proto.Clone(c).(*epermitv1.Application)
		n.Id = ApplicationID(10 + i)
		return writeApp(t, s, n, "same-request")
	})
	wantOneWon(t, "concurrent writes of one request id", errs, store.ErrDuplicateRequest)
}

// testApplicationList checks filters by state and channel, pages, and the
// overdue filter and count, which follow the deadline as states change.
func testApplicationList(t *testing.T, b Backend) {
	s := open(t, b)
	var all []*epermitv1.Application
	for i := range 12 {
		a := NewApplication(ApplicationID(i), CitizenID(i))
		// Deadlines one day apart, from appStart+15d.
		a.Deadline = timestamppb.New(appStart.AddDate(0, 0, 15+i))
		switch {
		case i%4 == 1:
			a.State = epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED
			a.AcceptTime, a.Deadline, a.DeadlineDays = nil, nil, 0
		case i%4 == 2:
			a.Channel = epermitv1.ApplicationChannel_APPLICATION_CHANNEL_REMOTE
			a.AcceptingDivision = "310107"
		case i%4 == 3:
			a.Channel = epermitv1.ApplicationChannel_APPLICATION_CHANNEL_ONLINE
		}
		mustWriteApp(t, s, a, "")
		all = append(all, a)
	}
	idsOf := func(keep func(*epermitv1.Application) bool) []string {
		var ids []string
		for _, a := range all {
			if keep(a) {
				ids = append(ids, a.Id)
			}
		}
		return ids
	}
	accepted := epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED
	remote := epermitv1.ApplicationChannel_APPLICATION_CHANNEL_REMOTE
	at := appStart.AddDate(0, 0, 15+6).Add(time.Hour) // deadlines 0..6 have passed
	for _, tt := range []struct {
		name   string
		filter store.ApplicationFilter
		keep   func(*epermitv1.Application) bool
	}{
		{"all", store.ApplicationFilter{}, func(*epermitv1.Application) bool { return true }},
		{"accepted", store.ApplicationFilter{State: accepted}, func(a *epermitv1.Application) bool { return a.State == accepted }},
		{"remote", store.ApplicationFilter{Channel: remote}, func(a *epermitv1.Application) bool { return a.Channel == remote }},
		{"overdue", store.ApplicationFilter{OverdueAt: at}, func(a *epermitv1.Application) bool { return store.IsOverdue(a, at) }},
		{"overdue remote", store.ApplicationFilter{OverdueAt: at, Channel: remote}, func(a *epermitv1.Application) bool {
			return store.IsOverdue(a, at) && a.Channel == remote
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := idsOf(tt.keep)
			for _, limit := range []int{1, 2, 5, 100} {
				if got := listApps(t, s, tt.filter, limit); !slices.Equal(got, want) {
					t.Fatalf("pages of %d = %q, want %q", limit, got, want)
				}
			}
			if n := count(t, s, tt.filter); n != len(want) {
				t.Fatalf("CountApplications = %d, want %d", n, len(want))
			}
		})
	}
	if n := count(t, s, store.ApplicationFilter{OverdueAt: at}); n != 5 {
		t.Fatalf("overdue count = %d, want 5 (applications 0, 2, 3, 4 and 6)", n)
	}
	// Deciding an overdue application takes it out of the overdue ones.
	decided := nextApp(all[0], func(a *epermitv1.Application) {
		a.State = epermitv1.ApplicationState_APPLICATION_STATE_APPROVED
		a.PermitId = PermitID(1)
	})
	mustWriteApp(t, s, decided, "")
	if n := count(t, s, store.ApplicationFilter{OverdueAt: at}); n != 4 {
		t.Fatalf("overdue count after approving one = %d, want 4", n)
	}
	if got := listApps(t, s, store.ApplicationFilter{OverdueAt: at}, 10); slices.Contains(got, decided.Id) {
		t.Fatalf("overdue list %q still holds the approved %s", got, decided.Id)
	}
	approved := store.ApplicationFilter{State: epermitv1.ApplicationState_APPLICATION_STATE_APPROVED}
	if got := listApps(t, s, approved, 1); !slices.Equal(got, []string{decided.Id}) || count(t, s, approved) != 1 {
		t.Fatalf("approved applications %q (count %d), want only %s", got, count(t, s, approved), decided.Id)
	}
	if got := listApps(t, s, store.ApplicationFilter{State: accepted}, 3); slices.Contains(got, decided.Id) || len(got) != count(t, s, store.ApplicationFilter{State: accepted}) {
		t.Fatalf("accepted applications %q still hold the approved %s, or disagree with the count", got, decided.Id)
	}
	// A later deadline (moved by a change) moves its index key.
	moved := nextApp(all[2], func(a *epermitv1.Application) { a.Deadline = timestamppb.New(at.Add(time.Hour)) })
	mustWriteApp(t, s, moved, "")
	if got := listApps(t, s, store.ApplicationFilter{OverdueAt: at}, 10); slices.Contains(got, moved.Id) {
		t.Fatalf("overdue list %q holds %s, whose deadline moved past the time", got, moved.Id)
	}
	if n := count(t, s, store.ApplicationFilter{OverdueAt: at}); n != 3 {
		t.Fatalf("overdue count after moving a deadline = %d, want 3", n)
	}
}

// testApplicationAudit checks that the audit entry is written with the
// change, and not with a refused one; and that applications last across
// a reopen.
func testApplicationAudit(t *testing.T, b Backend) {
	s := b.Open(t)
	t.Cleanup(func() { s.Close() }) // Close again does nothing
	a := NewApplication(ApplicationID(1), CitizenID(1))
	e := NewAuditEntry("clerk.test-01", "/epermit.v1.ApplicationService/SubmitApplication", a.Id, appStart)
	if err := s.WriteApplication(t.Context(), store.ApplicationWrite{Application: a, Audit: e}); err != nil {
		t.Fatalf("WriteApplication: %v", err)
	}
	refused := NewAuditEntry("clerk.test-01", "/epermit.v1.ApplicationService/SubmitApplication", a.Id, appStart)
	wantErr(t, "a second create", s.WriteApplication(t.Context(), store.ApplicationWrite{Application: a, Audit: refused}), store.ErrConflict)
	log := wantChain(t, s, 1)
	if log[0].GetTarget() != a.Id || log[0].GetMethod() != e.Method {
		t.Fatalf("audit entry %v, want the submit of %s", log[0], a.Id)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			c := NewApplication(ApplicationID(10+i), CitizenID(10+i))
			if err := s.WriteApplication(t.Context(), store.ApplicationWrite{Application: c,
				Audit: NewAuditEntry("clerk.test-01", e.Method, c.Id, appStart)}); err != nil {
				t.Errorf("WriteApplication(%s): %v", c.Id, err)
			}
		})
	}
	wg.Wait()
	wantChain(t, s, 5)
	s = b.Reopen(t, s)
	wantApp(t, s, a)
	if n := count(t, s, store.ApplicationFilter{OverdueAt: appStart.AddDate(1, 0, 0)}); n != 5 {
		t.Fatalf("overdue count after reopen = %d, want 5", n)
	}
}
