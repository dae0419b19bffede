// Package federation is what a node offers the other member nodes of the
// Delta: its status list (FederationService.GetStatusList), kept in step
// with the permits it issues.
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
// and prepares its publication signed with key.
func NewStatus(ctx context.Context, st store.Store, division string, key crypto.Signer, clock func() time.Time, log *slog.Logger) (*Status, error) {
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
	pub, err := statuslist.NewPublisher(statuslist.PublisherConfig{List: list, Key: key, Issuer: division, Clock: clock})
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

// Service implements epermitv1.FederationServiceServer.
type Service struct {
	epermitv1.UnsafeFederationServiceServer
	status *Status
	// applications takes in forwarded applications (forward.go); nil
	// refuses them.
	applications ApplicationReceiver
}

// NewService returns the FederationService of a node.
func NewService(s *Status) *Service { return &Service{status: s} }

// RegisterService registers svc on s.
func RegisterService(s grpc.ServiceRegistrar, svc *Service) {
	epermitv1.RegisterFederationServiceServer(s, svc)
}

// GetStatusList implements epermitv1.FederationServiceServer.
func (s *Service) GetStatusList(_ context.Context, req *epermitv1.GetStatusListRequest) (*epermitv1.GetStatusListResponse, error) {
	data, notModified, err := s.status.pub.Fetch(req.HaveVersion)
	if err != nil {
		s.status.log.Error("status list: publish", "err", err)
		return nil, apierror.Internal()
	}
	return &epermitv1.GetStatusListResponse{Data: data, NotModified: notModified}, nil
}
