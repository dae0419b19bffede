package command

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// fakeApplications is the fake node's in-memory ApplicationService: it
// knows the default material codes, accepts complete applications at a
// fixed time and issues activePermit on approval. It shares the node's
// mutex and records mutating requests with the node's.
type fakeApplications struct {
	epermitv1.UnimplementedApplicationServiceServer

	node *fakeNode
	apps map[string]*epermitv1.Application
	ids  []string // in submission order
}

// fakeRequired are the fake's required materials.
var fakeRequired = []string{"id_card", "photo", "residence_proof"}

// fakeMissing lists what materials leave missing, as the node does.
func fakeMissing(materials []string) []*epermitv1.MissingMaterial {
	var out []*epermitv1.MissingMaterial
	for _, code := range fakeRequired {
		if !slices.Contains(materials, code) {
			out = append(out, &epermitv1.MissingMaterial{Code: code, NameZh: "材料" + code, NameEn: "material " + code})
		}
	}
	return out
}

// settle sets the state and deadline that a's materials lead to.
func settle(a *epermitv1.Application) {
	a.MissingMaterials = fakeMissing(a.GetMaterialsProvided())
	if len(a.MissingMaterials) > 0 {
		a.State = epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED
		return
	}
	a.State = epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED
	a.AcceptTime, a.Deadline, a.DeadlineDays = ts("2026-04-01 10:00:00"), ts("2026-04-16 10:00:00"), 15
}

// add stores a, for a test's setup.
func (f *fakeApplications) add(a *epermitv1.Application) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.apps[a.GetId()] = proto.CloneOf(a)
	f.ids = append(f.ids, a.GetId())
}

func (f *fakeApplications) SubmitApplication(ctx context.Context, req *epermitv1.SubmitApplicationRequest) (*epermitv1.SubmitApplicationResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.requests = append(f.node.requests, req)
	a := &epermitv1.Application{
		Id:                 fmt.Sprintf("A330604-00000000000%02d", len(f.ids)+1),
		Holder:             req.GetHolder(),
		ResidenceAddress:   req.GetResidenceAddress(),
		ResidenceStartDate: req.GetResidenceStartDate(),
		Channel:            req.GetChannel(),
		TargetDivision:     "330604",
		AcceptingDivision:  "330604",
		MaterialsProvided:  req.GetMaterialsProvided(),
		SubmittedBy:        callerName(ctx, "clerk.wang"),
		Version:            1,
		CreateTime:         ts("2026-04-01 10:00:00"),
		UpdateTime:         ts("2026-04-01 10:00:00"),
	}
	if t := req.GetTargetDivision(); t != "" && t != "330604" {
		a.TargetDivision = t
		a.State = epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING
		a.MissingMaterials = fakeMissing(a.GetMaterialsProvided())
	} else {
		settle(a)
	}
	f.apps[a.Id] = a
	f.ids = append(f.ids, a.Id)
	return &epermitv1.SubmitApplicationResponse{Application: proto.CloneOf(a)}, nil
}

func (f *fakeApplications) GetApplication(_ context.Context, req *epermitv1.GetApplicationRequest) (*epermitv1.GetApplicationResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	a, ok := f.apps[req.GetApplicationId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "application %s not found", req.GetApplicationId())
	}
	return &epermitv1.GetApplicationResponse{Application: proto.CloneOf(a)}, nil
}

// ListApplications filters and pages; the page token is the index of the
// next application.
func (f *fakeApplications) ListApplications(_ context.Context, req *epermitv1.ListApplicationsRequest) (*epermitv1.ListApplicationsResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	resp := &epermitv1.ListApplicationsResponse{}
	var match []*epermitv1.Application
	for _, id := range f.ids {
		a := f.apps[id]
		if a.GetOverdue() {
			resp.OverdueCount++
		}
		switch {
		case req.GetState() != 0 && a.GetState() != req.GetState(),
			req.GetChannel() != 0 && a.GetChannel() != req.GetChannel(),
			req.GetOverdue() && !a.GetOverdue():
			continue
		}
		match = append(match, a)
	}
	page, next, err := fakePage(match, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	for _, a := range page {
		resp.Applications = append(resp.Applications, proto.CloneOf(a))
	}
	resp.NextPageToken = next
	return resp, nil
}

// change records req and applies change to application id at version.
func (f *fakeApplications) change(req proto.Message, id string, version int64, change func(*epermitv1.Application) error) (*epermitv1.Application, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.requests = append(f.node.requests, req)
	a, ok := f.apps[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "application %s not found", id)
	}
	if a.GetVersion() != version {
		return nil, status.Errorf(codes.Aborted, "application %s is at version %d, not %d; read it again", id, a.GetVersion(), version)
	}
	if err := change(a); err != nil {
		return nil, err
	}
	a.Version++
	return proto.CloneOf(a), nil
}

func (f *fakeApplications) SupplementApplication(_ context.Context, req *epermitv1.SupplementApplicationRequest) (*epermitv1.SupplementApplicationResponse, error) {
	a, err := f.change(req, req.GetApplicationId(), req.GetVersion(), func(a *epermitv1.Application) error {
		a.MaterialsProvided = append(a.MaterialsProvided, req.GetMaterialsProvided()...)
		settle(a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.SupplementApplicationResponse{Application: a}, nil
}

func (f *fakeApplications) ApproveApplication(_ context.Context, req *epermitv1.ApproveApplicationRequest) (*epermitv1.ApproveApplicationResponse, error) {
	p := activePermit()
	a, err := f.change(req, req.GetApplicationId(), req.GetVersion(), func(a *epermitv1.Application) error {
		if a.GetState() != epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED {
			return status.Error(codes.FailedPrecondition, "the application is not accepted")
		}
		a.State, a.PermitId, a.DecidedBy, a.DecideTime = epermitv1.ApplicationState_APPLICATION_STATE_APPROVED, p.GetId(), "clerk.wang", ts("2026-04-03 15:00:00")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.ApproveApplicationResponse{Application: a, Permit: p}, nil
}

func (f *fakeApplications) RejectApplication(_ context.Context, req *epermitv1.RejectApplicationRequest) (*epermitv1.RejectApplicationResponse, error) {
	a, err := f.change(req, req.GetApplicationId(), req.GetVersion(), func(a *epermitv1.Application) error {
		a.State, a.RejectionReasons, a.DecidedBy, a.DecideTime = epermitv1.ApplicationState_APPLICATION_STATE_REJECTED, req.GetReasons(), "clerk.wang", ts("2026-04-03 15:00:00")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.RejectApplicationResponse{Application: a}, nil
}
