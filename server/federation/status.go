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
	"math/bits"
	"time"

	"google.golang.org/grpc"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/statuslist"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Status keeps a node's status list: one random entry per permit it issued,
// holding the permit's recorded state.
type Status struct {
	list *statuslist.List
	pub  *statuslist.Publisher
	log  *slog.Logger
}

// stateOf maps a recorded permit status to its status-list state.
var stateOf = map[epermitv1.PermitStatus]statuslist.State{
	epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE:      statuslist.Valid,
	epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED:   statuslist.Suspended,
	epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED:   statuslist.Cancelled,
	epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED: statuslist.Confiscated,
	epermitv1.PermitStatus_PERMIT_STATUS_SUPERSEDED:  statuslist.Superseded,
}

// pageSize is how many permits the rebuild reads at a time.
const pageSize = 1000

// NewStatus rebuilds the status list of division from the permits in st
// and prepares its publication, signed with keyAt(the time of signing).
func NewStatus(ctx context.Context, st store.Store, division string, keyAt func(time.Time) crypto.Signer, clock func() time.Time, log *slog.Logger) (*Status, error) {
	type entry struct {
		index uint32
		state statuslist.State
	}
	var entries []entry
	var highest uint32
	for after := ""; ; {
		page, err := st.ListPermits(ctx, store.PermitFilter{}, after, pageSize)
		if err != nil {
			return nil, fmt.Errorf("status list: reading permits: %w", err)
		}
		for _, p := range page {
			if p.StatusIndex != nil {
				entries = append(entries, entry{p.GetStatusIndex(), stateOf[p.Status]})
				highest = max(highest, p.GetStatusIndex())
			}
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].Id
	}
	size := uint32(statuslist.MinSize)
	if need := uint32(1) << bits.Len32(highest); len(entries) > 0 && need > size {
		size = need
	}
	list := statuslist.New(statuslist.Options{Size: size, Version: uint64(clock().UnixMicro())})
	for _, e := range entries {
		if err := list.Set(e.index, e.state); err != nil {
			return nil, fmt.Errorf("status list: entry %d: %w", e.index, err)
		}
	}
	pub, err := statuslist.NewPublisher(statuslist.PublisherConfig{List: list, KeyAt: keyAt, Issuer: division, Clock: clock})
	if err != nil {
		return nil, err
	}
	return &Status{list: list, pub: pub, log: log}, nil
}

// Assign reserves a random entry for a permit about to be issued.
func (s *Status) Assign() (uint32, error) { return s.list.Assign() }

// Release gives back an entry reserved for a permit that was not issued.
func (s *Status) Release(index uint32) {
	if err := s.list.Release(index); err != nil {
		s.log.Warn("status list: release", "index", index, "err", err)
	}
}

// Record sets the entry of a permit whose change has committed.
func (s *Status) Record(p *epermitv1.Permit) {
	if p.StatusIndex == nil {
		return
	}
	if err := s.list.Set(p.GetStatusIndex(), stateOf[p.Status]); err != nil {
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
// caller that holds version have (statuslist.Publisher.Fetch).
func (s *Status) Publication(have uint64) (data []byte, notModified bool, err error) {
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
func (s *Service) GetStatusList(_ context.Context, req *epermitv1.GetStatusListRequest) (*epermitv1.GetStatusListResponse, error) {
	data, notModified, err := s.status.Publication(req.HaveVersion)
	if err != nil {
		s.status.log.Error("status list: publish", "err", err)
		return nil, apierror.Internal()
	}
	return &epermitv1.GetStatusListResponse{Data: data, NotModified: notModified}, nil
}
