package permit

import (
	"context"
	"fmt"
	"strings"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/validate"
	"github.com/yrd-epermit/epermit/store"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// maxScan bounds how many records one ListPermits call reads while filtering
// by status; a page may come back short, with a token to go on.
const maxScan = 20000

// ListPermits implements epermitv1.PermitServiceServer.
func (s *Service) ListPermits(ctx context.Context, req *epermitv1.ListPermitsRequest) (*epermitv1.ListPermitsResponse, error) {
	now := s.cfg.Clock()
	var v apierror.Violations
	var filter store.PermitFilter
	if req.CitizenId != "" {
		filter.CitizenID = citizenID(&v, "citizen_id", req.CitizenId, today(now)).Number
	}
	if _, ok := epermitv1.PermitStatus_name[int32(req.Status)]; !ok {
		v.Add("status", "UNKNOWN", "is not a known permit status")
	}
	size := validate.PageSize(&v, req.PageSize)
	after, ok := validate.ReadPageToken(req.PageToken, filterOf(req))
	if !ok {
		v.Add("page_token", "INVALID", "is not a token returned by a ListPermits call with the same filter")
	}
	if err := v.Err("invalid list request"); err != nil {
		return nil, err
	}

	resp := &epermitv1.ListPermitsResponse{}
	for scanned := 0; len(resp.Permits) < size && scanned < maxScan; {
		want := size - len(resp.Permits)
		batch, err := s.cfg.Store.ListPermits(ctx, filter, after, want)
		if err != nil {
			return nil, s.storeError("list permits", err)
		}
		for _, p := range batch {
			scanned++
			after = p.Id
			if d := s.decorateAt(p, now); req.Status == epermitv1.PermitStatus_PERMIT_STATUS_UNSPECIFIED || d.Status == req.Status {
				resp.Permits = append(resp.Permits, d)
			}
		}
		if len(batch) < want {
			return resp, nil // the store has no more
		}
	}
	// The page is full or the scan limit reached: say whether more follow.
	more, err := s.cfg.Store.ListPermits(ctx, filter, after, 1)
	if err != nil {
		return nil, s.storeError("list permits", err)
	}
	if len(more) > 0 {
		resp.NextPageToken = validate.PageToken(filterOf(req), after)
	}
	return resp, nil
}

// filterOf identifies a list filter in page tokens.
func filterOf(req *epermitv1.ListPermitsRequest) string {
	return fmt.Sprintf("v1\x00%s\x00%d", req.CitizenId, req.Status)
}

// statusWord is a status in lower-case words: "cancelled", "confiscated".
func statusWord(s epermitv1.PermitStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "PERMIT_STATUS_"))
}

// reasonWord is a cancellation ground in lower-case words.
func reasonWord(r epermitv1.CancelReason) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(r.String(), "CANCEL_REASON_"), "_", " "))
}
