package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Store returns s with every operation timed into
// epermit_store_operation_seconds, labelled by the method's name and its
// outcome. A method added to store.Store is added here too, one method
// each, in the same shape.
func (m *Metrics) Store(s store.Store) store.Store {
	return &timedStore{next: s, ops: m.storeOps}
}

// timedStore is the decorator Store returns.
type timedStore struct {
	next store.Store
	ops  *prometheus.HistogramVec
}

// Ensure timedStore is a store.Store.
var _ store.Store = (*timedStore)(nil)

// observe records one operation that began at start and ended with *err.
func (s *timedStore) observe(op string, start time.Time, err *error) {
	s.ops.WithLabelValues(op, outcome(*err)).Observe(time.Since(start).Seconds())
}

// outcome names an operation's result by the store's errors, so that the
// label has few values.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNoPending):
		return "not_found"
	case errors.Is(err, store.ErrConflict):
		return "conflict"
	case errors.Is(err, store.ErrDuplicateRequest):
		return "duplicate_request"
	case errors.Is(err, store.ErrActivePermit), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrPendingExists):
		return "refused"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	case errors.Is(err, store.ErrClosed):
		return "closed"
	}
	return "error"
}

func (s *timedStore) GetPermit(ctx context.Context, id string) (_ *epermitv1.Permit, err error) {
	defer s.observe("GetPermit", time.Now(), &err)
	return s.next.GetPermit(ctx, id)
}

func (s *timedStore) ListPermits(ctx context.Context, filter store.PermitFilter, after string, limit int) (_ []*epermitv1.Permit, err error) {
	defer s.observe("ListPermits", time.Now(), &err)
	return s.next.ListPermits(ctx, filter, after, limit)
}

func (s *timedStore) Replay(ctx context.Context, requestID string) (_ *store.Replayed, err error) {
	defer s.observe("Replay", time.Now(), &err)
	return s.next.Replay(ctx, requestID)
}

func (s *timedStore) WritePermit(ctx context.Context, w store.PermitWrite) (err error) {
	defer s.observe("WritePermit", time.Now(), &err)
	return s.next.WritePermit(ctx, w)
}

func (s *timedStore) WritePermits(ctx context.Context, ws []store.PermitWrite) (_ []error, err error) {
	defer s.observe("WritePermits", time.Now(), &err)
	return s.next.WritePermits(ctx, ws)
}

func (s *timedStore) GetPending(ctx context.Context, id string) (_ *epermitv1.PendingCancellation, err error) {
	defer s.observe("GetPending", time.Now(), &err)
	return s.next.GetPending(ctx, id)
}

func (s *timedStore) ListPending(ctx context.Context) (_ []*epermitv1.PendingCancellation, err error) {
	defer s.observe("ListPending", time.Now(), &err)
	return s.next.ListPending(ctx)
}

func (s *timedStore) WritePending(ctx context.Context, w store.PendingWrite) (err error) {
	defer s.observe("WritePending", time.Now(), &err)
	return s.next.WritePending(ctx, w)
}

func (s *timedStore) GetApplication(ctx context.Context, id string) (_ *epermitv1.Application, err error) {
	defer s.observe("GetApplication", time.Now(), &err)
	return s.next.GetApplication(ctx, id)
}

func (s *timedStore) ListApplications(ctx context.Context, filter store.ApplicationFilter, after string, limit int) (_ []*epermitv1.Application, err error) {
	defer s.observe("ListApplications", time.Now(), &err)
	return s.next.ListApplications(ctx, filter, after, limit)
}

func (s *timedStore) CountApplications(ctx context.Context, filter store.ApplicationFilter) (_ int, err error) {
	defer s.observe("CountApplications", time.Now(), &err)
	return s.next.CountApplications(ctx, filter)
}

func (s *timedStore) WriteApplication(ctx context.Context, w store.ApplicationWrite) (err error) {
	defer s.observe("WriteApplication", time.Now(), &err)
	return s.next.WriteApplication(ctx, w)
}

func (s *timedStore) GetServiceRequest(ctx context.Context, id string) (_ *epermitv1.ServiceRequest, err error) {
	defer s.observe("GetServiceRequest", time.Now(), &err)
	return s.next.GetServiceRequest(ctx, id)
}

func (s *timedStore) ListServiceRequests(ctx context.Context, filter store.ServiceRequestFilter, after string, limit int) (_ []*epermitv1.ServiceRequest, err error) {
	defer s.observe("ListServiceRequests", time.Now(), &err)
	return s.next.ListServiceRequests(ctx, filter, after, limit)
}

func (s *timedStore) WriteServiceRequest(ctx context.Context, w store.ServiceRequestWrite) (err error) {
	defer s.observe("WriteServiceRequest", time.Now(), &err)
	return s.next.WriteServiceRequest(ctx, w)
}

func (s *timedStore) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) (_ []*epermitv1.ServiceRequest, err error) {
	defer s.observe("ClaimDeliveries", time.Now(), &err)
	return s.next.ClaimDeliveries(ctx, now, lease, limit)
}

func (s *timedStore) ServiceRequestEvents(ctx context.Context, afterSeq uint64, limit int) (_ []store.ServiceRequestEvent, err error) {
	defer s.observe("ServiceRequestEvents", time.Now(), &err)
	return s.next.ServiceRequestEvents(ctx, afterSeq, limit)
}

func (s *timedStore) ServiceRequestEventHead(ctx context.Context) (_ uint64, err error) {
	defer s.observe("ServiceRequestEventHead", time.Now(), &err)
	return s.next.ServiceRequestEventHead(ctx)
}

func (s *timedStore) GetAccount(ctx context.Context, name string) (_ *store.Account, err error) {
	defer s.observe("GetAccount", time.Now(), &err)
	return s.next.GetAccount(ctx, name)
}

func (s *timedStore) AccountByTokenHash(ctx context.Context, hash []byte) (_ *store.Account, err error) {
	defer s.observe("AccountByTokenHash", time.Now(), &err)
	return s.next.AccountByTokenHash(ctx, hash)
}

func (s *timedStore) ListAccounts(ctx context.Context) (_ []*store.Account, err error) {
	defer s.observe("ListAccounts", time.Now(), &err)
	return s.next.ListAccounts(ctx)
}

func (s *timedStore) CreateAccount(ctx context.Context, a *store.Account, audit *epermitv1.AuditEntry) (err error) {
	defer s.observe("CreateAccount", time.Now(), &err)
	return s.next.CreateAccount(ctx, a, audit)
}

func (s *timedStore) UpdateAccount(ctx context.Context, name string, update func(*store.Account) error, audit *epermitv1.AuditEntry) (_ *store.Account, err error) {
	defer s.observe("UpdateAccount", time.Now(), &err)
	return s.next.UpdateAccount(ctx, name, update, audit)
}

func (s *timedStore) AppendAudit(ctx context.Context, e *epermitv1.AuditEntry) (err error) {
	defer s.observe("AppendAudit", time.Now(), &err)
	return s.next.AppendAudit(ctx, e)
}

func (s *timedStore) ListAudit(ctx context.Context, f store.AuditFilter, afterSeq uint64, limit int) (_ []*epermitv1.AuditEntry, err error) {
	defer s.observe("ListAudit", time.Now(), &err)
	return s.next.ListAudit(ctx, f, afterSeq, limit)
}

func (s *timedStore) ScanAudit(ctx context.Context, fn func(*epermitv1.AuditEntry) error) (_ store.AuditHead, err error) {
	defer s.observe("ScanAudit", time.Now(), &err)
	return s.next.ScanAudit(ctx, fn)
}

func (s *timedStore) OutboxStats(ctx context.Context, now time.Time, limit int) (_ store.OutboxStats, err error) {
	defer s.observe("OutboxStats", time.Now(), &err)
	return s.next.OutboxStats(ctx, now, limit)
}

func (s *timedStore) Close() (err error) {
	defer s.observe("Close", time.Now(), &err)
	return s.next.Close()
}
