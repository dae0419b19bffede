package application

import (
	"context"
	"fmt"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// ListApplications implements epermitv1.ApplicationServiceServer.
func (s *Service) ListApplications(ctx context.Context, req *epermitv1.ListApplicationsRequest) (*epermitv1.ListApplicationsResponse, error) {
	now := s.cfg.Clock()
	var v apierror.Violations
	if _, ok := epermitv1.ApplicationState_name[int32(req.State)]; !ok {
		v.Add("state", "UNKNOWN", "is not a known application state")
	}
	if _, ok := epermitv1.ApplicationChannel_name[int32(req.Channel)]; !ok {
		v.Add("channel", "UNKNOWN", "is not a known application channel")
	}
	size := validate.PageSize(&v, req.PageSize)
	after, ok := validate.ReadPageToken(req.PageToken, filterKey(req))
	if !ok {
		v.Add("page_token", "INVALID", "is not a token returned by a ListApplications call with the same filter")
	}
	if err := v.Err("invalid list request"); err != nil {
		return nil, err
	}
	filter := store.ApplicationFilter{State: req.State, Channel: req.Channel}
	if req.Overdue {
		filter.OverdueAt = now
	}
	// One more than the page tells whether another page follows.
	page, err := s.cfg.Store.ListApplications(ctx, filter, after, size+1)
	if err != nil {
		return nil, s.storeError("list applications", err)
	}
	overdue, err := s.cfg.Store.CountApplications(ctx, store.ApplicationFilter{OverdueAt: now})
	if err != nil {
		return nil, s.storeError("count overdue applications", err)
	}
	resp := &epermitv1.ListApplicationsResponse{OverdueCount: int32(overdue)}
	if len(page) > size {
		page = page[:size]
		resp.NextPageToken = validate.PageToken(filterKey(req), page[size-1].GetId())
	}
	for _, a := range page {
		resp.Applications = append(resp.Applications, s.decorate(a, now))
	}
	return resp, nil
}

// filterKey identifies a request's filter in its page tokens.
func filterKey(req *epermitv1.ListApplicationsRequest) string {
	return fmt.Sprintf("%d.%d.%t", req.State, req.Channel, req.Overdue)
}
