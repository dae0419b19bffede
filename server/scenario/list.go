package scenario

import (
	"context"
	"fmt"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// ListServiceRequests implements epermitv1.ScenarioServiceServer.
func (s *Service) ListServiceRequests(ctx context.Context, req *epermitv1.ListServiceRequestsRequest) (*epermitv1.ListServiceRequestsResponse, error) {
	var v apierror.Violations
	size := validate.PageSize(&v, req.PageSize)
	f := store.ServiceRequestFilter{PermitID: req.PermitId, State: req.State, Department: req.Department}
	if req.StartTime != nil {
		f.Start = req.StartTime.AsTime()
	}
	if req.EndTime != nil {
		f.End = req.EndTime.AsTime()
	}
	if _, ok := epermitv1.ServiceRequestState_name[int32(req.State)]; !ok {
		v.Add("state", "UNKNOWN", "is not a known state")
	}
	after, ok := validate.ReadPageToken(req.PageToken, filterKey(req))
	if !ok {
		v.Add("page_token", "INVALID", "is not a page token of this filter; start again without it")
	}
	if err := v.Err("invalid list request"); err != nil {
		return nil, err
	}
	auth.CallFrom(ctx).SetTarget(filterKey(req))
	page, err := s.cfg.Store.ListServiceRequests(ctx, f, after, size+1)
	if err != nil {
		return nil, s.storeError("list service requests", err)
	}
	resp := &epermitv1.ListServiceRequestsResponse{Requests: page}
	if len(page) > size {
		resp.Requests = page[:size]
		resp.NextPageToken = validate.PageToken(filterKey(req), page[size-1].GetId())
	}
	return resp, nil
}

// filterKey identifies a request's filter.
func filterKey(req *epermitv1.ListServiceRequestsRequest) string {
	return fmt.Sprintf("permit=%s state=%d department=%s start=%d end=%d", req.PermitId, req.State, req.Department,
		req.GetStartTime().AsTime().UnixNano(), req.GetEndTime().AsTime().UnixNano())
}
