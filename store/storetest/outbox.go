package storetest

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// testOutboxStats: the counts follow the outbox as requests enter it, come
// due and leave it; the oldest due time is the earliest next_attempt_time
// at or before now; the limit caps the counts.
func testOutboxStats(t *testing.T, b Backend) {
	s := open(t, b)
	stats := func(now time.Time, limit int) store.OutboxStats {
		t.Helper()
		st, err := s.OutboxStats(t.Context(), now, limit)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := stats(srStart, 100); st != (store.OutboxStats{}) {
		t.Fatalf("empty outbox: %+v", st)
	}
	minute := func(m int) time.Time { return srStart.Add(time.Duration(m) * time.Minute) }
	// Request i is due at srStart + at[i] minutes; request 9 is not in
	// the outbox.
	at := []int{30, 10, 20, 10}
	for i, m := range at {
		r := NewServiceRequest(ServiceRequestID(i), PermitID(i))
		r.NextAttemptTime = timestamppb.New(minute(m))
		mustWriteSR(t, s, r, "", true)
	}
	done := NewServiceRequest(ServiceRequestID(9), PermitID(9))
	done.NextAttemptTime = nil
	mustWriteSR(t, s, done, "", true)

	for _, tt := range []struct {
		now   time.Time
		limit int
		want  store.OutboxStats
	}{
		{minute(10).Add(-time.Nanosecond), 100, store.OutboxStats{Queued: 4}},
		{minute(10), 100, store.OutboxStats{Queued: 4, Due: 2, OldestDue: minute(10)}},
		{minute(25), 100, store.OutboxStats{Queued: 4, Due: 3, OldestDue: minute(10)}},
		{minute(60), 100, store.OutboxStats{Queued: 4, Due: 4, OldestDue: minute(10)}},
		{minute(60), 2, store.OutboxStats{Queued: 2, Due: 2, OldestDue: minute(10)}},
	} {
		st := stats(tt.now, tt.limit)
		if st.Queued != tt.want.Queued || st.Due != tt.want.Due || !st.OldestDue.Equal(tt.want.OldestDue) {
			t.Fatalf("OutboxStats(+%v, %d) = %+v, want %+v", tt.now.Sub(srStart), tt.limit, st, tt.want)
		}
	}
	// Delivered: request 1 leaves the outbox, 3 is the earliest due.
	r1, err := s.GetServiceRequest(t.Context(), ServiceRequestID(1))
	if err != nil {
		t.Fatal(err)
	}
	mustWriteSR(t, s, nextSR(r1, toState(epermitv1.ServiceRequestState_SERVICE_REQUEST_STATE_ROUTED, minute(11))), "", true)
	if st := stats(minute(60), 100); st.Queued != 3 || st.Due != 3 || !st.OldestDue.Equal(minute(10)) {
		t.Fatalf("after a delivery: %+v", st)
	}
}
