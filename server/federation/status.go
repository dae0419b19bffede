// Package federation is how a node meets the other member nodes of the
// Delta: the FederationService it offers (its status list, kept in step
// with the permits it issues, and the register's answers of permit.Service),
// the connections to the other members (Peers) and the cache of their
// status lists (Poller).
package federation

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Status keeps a node's status list: one random entry per permit it issued,
// holding the permit's recorded state.
//
// The store keeps the list too (store.StatusListKeeper), and the list is
// loaded from it at start. On a store shared by replicas
// (Redis) the list published is the store's, loaded again whenever its
// version has moved, so every replica publishes the same entries under
// the same version; indices are drawn from a second list, alloc, loaded
// alike, and the store refuses an index another replica gave meanwhile
// (store.ErrIndexTaken). Otherwise (bbolt, one process) the list is kept
// in step with each committed change (Record).
type Status struct {
	list *statuslist.List
	pub  *statuslist.Publisher
	log  *slog.Logger

	// shared is the store that keeps the list for every replica; nil when
	// only this node writes it.
	shared store.StatusListKeeper
	alloc  *statuslist.List
	// mu serialises reloads; checked is when the store's version was last
	// read; stale asks for a check before the next publication, after this
	// node wrote.
	mu      sync.Mutex
	checked time.Time
	stale   bool
}

// reloadInterval is how often, at most, Status asks the store whether its
// list has changed, unless this node has written since and publishes.
const reloadInterval = time.Second

// NewStatus prepares the status list of division, loaded from st, and its
// publication, signed with keyAt(the time of signing).
func NewStatus(ctx context.Context, st store.StatusListKeeper, division string, keyAt func(time.Time) crypto.Signer, clock func() time.Time, log *slog.Logger) (*Status, error) {
	s := &Status{log: log, list: statuslist.New(statuslist.Options{})}
	if st.StatusListShared() {
		s.shared = st
		s.alloc = statuslist.New(statuslist.Options{})
		if err := s.reload(ctx); err != nil {
			return nil, fmt.Errorf("status list: %w", err)
		}
		s.checked = time.Now()
	} else {
		packed, version, err := st.StatusList(ctx)
		if err == nil {
			err = s.list.Load(packed, version)
		}
		if err != nil {
			return nil, fmt.Errorf("status list: %w", err)
		}
	}
	pub, err := statuslist.NewPublisher(statuslist.PublisherConfig{List: s.list, KeyAt: keyAt, Issuer: division, Clock: clock})
	if err != nil {
		return nil, err
	}
	s.pub = pub
	return s, nil
}

// reload loads the store's list into list and alloc.
func (s *Status) reload(ctx context.Context) error {
	packed, version, err := s.shared.StatusList(ctx)
	if err != nil {
		return err
	}
	if err := s.alloc.Load(packed, version); err != nil {
		return err
	}
	return s.list.Load(packed, version)
}

// refresh reloads the store's list when its version differs from the one
// published, asking at most every reloadInterval, or at once before a
// publication when this node wrote since (so that a node publishes its own
// changes at once). A store that does not answer leaves the last list in
// place.
func (s *Status) refresh(ctx context.Context, publishing bool) {
	if s.shared == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !(publishing && s.stale) && time.Since(s.checked) < reloadInterval {
		return
	}
	s.checked, s.stale = time.Now(), false
	v, err := s.shared.StatusListVersion(ctx)
	if err == nil && v != s.list.Version() {
		err = s.reload(ctx)
	}
	if err != nil && ctx.Err() == nil {
		s.stale = true
		s.log.Warn("status list: reload from the store", "err", err)
	}
}

// Assign reserves a random entry for a permit about to be issued. On a
// shared list another replica may have given the entry meanwhile: the
// store then refuses the write (store.ErrIndexTaken) and the caller
// assigns again.
func (s *Status) Assign(ctx context.Context) (uint32, error) {
	if s.shared == nil {
		return s.list.Assign()
	}
	s.refresh(ctx, false)
	return s.alloc.Assign()
}

// Release gives back an entry reserved for a permit that was not issued.
func (s *Status) Release(index uint32) {
	l := s.list
	if s.shared != nil {
		l = s.alloc
	}
	if err := l.Release(index); err != nil {
		s.log.Warn("status list: release", "index", index, "err", err)
	}
}

// Record sets the entry of a permit whose change has committed. On a
// shared list the store has set it already; the next publication reloads.
func (s *Status) Record(p *epermitv1.Permit) {
	if p.StatusIndex == nil {
		return
	}
	if s.shared != nil {
		s.mu.Lock()
		s.stale = true
		s.mu.Unlock()
		return
	}
	if err := s.list.Set(p.GetStatusIndex(), store.ListState(p.Status)); err != nil {
		s.log.Error("status list: record", "permit", p.Id, "index", p.GetStatusIndex(), "err", err)
	}
}

// Register is the side of FederationService that reads and changes the
// node's permits; permit.Service implements it.
type Register interface {
	FindPermits(context.Context, *epermitv1.FindPermitsRequest) (*epermitv1.FindPermitsResponse, error)
	GetPermitStatus(context.Context, *epermitv1.GetPermitStatusRequest) (*epermitv1.GetPermitStatusResponse, error)
	GetResidenceHistory(context.Context, *epermitv1.GetResidenceHistoryRequest) (*epermitv1.GetResidenceHistoryResponse, error)
	SupersedePermit(context.Context, *epermitv1.SupersedePermitRequest) (*epermitv1.SupersedePermitResponse, error)
}

// Publication is the signed list, or the signed not-modified answer for a
// caller that holds version have (statuslist.Publisher.Fetch). A shared
// list is first brought up to date with the store (refresh).
func (s *Status) Publication(ctx context.Context, have uint64) (data []byte, notModified bool, err error) {
	s.refresh(ctx, true)
	return s.pub.Fetch(have)
}

// Service implements epermitv1.FederationServiceServer: the status list
// here, the rest by the permit register.
type Service struct {
	epermitv1.UnsafeFederationServiceServer
	Register
	status *Status
	// applications takes in forwarded applications (forward.go); nil
	// refuses them.
	applications ApplicationReceiver
}

// NewService returns the FederationService of a node.
func NewService(s *Status, r Register) *Service { return &Service{status: s, Register: r} }

// RegisterService registers svc on s.
func RegisterService(s grpc.ServiceRegistrar, svc *Service) {
	epermitv1.RegisterFederationServiceServer(s, svc)
}

// GetStatusList implements epermitv1.FederationServiceServer.
func (s *Service) GetStatusList(ctx context.Context, req *epermitv1.GetStatusListRequest) (*epermitv1.GetStatusListResponse, error) {
	data, notModified, err := s.status.Publication(ctx, req.HaveVersion)
	if err != nil {
		s.status.log.Error("status list: publish", "err", err)
		return nil, apierror.Failure(err)
	}
	return &epermitv1.GetStatusListResponse{Data: data, NotModified: notModified}, nil
}
