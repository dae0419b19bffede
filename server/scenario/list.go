package scenario

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

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
	after, ok := readPageToken(req)
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
		resp.NextPageToken = pageToken(req, page[size-1].GetId())
	}
	return resp, nil
}

// A page token is the filter it was made for and the last id read, so a
// token is refused with another filter.
func pageToken(req *epermitv1.ListServiceRequestsRequest, after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(filterKey(req) + "/" + after))
}

// readPageToken returns the id a token of this filter resumes after; ""
// without a token, and false for a token that is not one of this filter.
func readPageToken(req *epermitv1.ListServiceRequestsRequest) (string, bool) {
	if req.PageToken == "" {
		return "", true
	}
	if len(req.PageToken) > maxPageToken {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(req.PageToken)
	if err != nil {
		return "", false
	}
	i := strings.LastIndexByte(string(raw), '/')
	if i < 0 || string(raw[:i]) != filterKey(req) || i == len(raw)-1 {
		return "", false
	}
	return string(raw[i+1:]), true
}

// filterKey identifies a request's filter.
func filterKey(req *epermitv1.ListServiceRequestsRequest) string {
	return fmt.Sprintf("permit=%s state=%d department=%s start=%d end=%d", req.PermitId, req.State, req.Department,
		req.GetStartTime().AsTime().UnixNano(), req.GetEndTime().AsTime().UnixNano())
}
