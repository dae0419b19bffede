package command

import (
	"context"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// fakeAudit is the fake node's in-memory AuditService. It shares the
// node's mutex.
type fakeAudit struct {
	epermitv1.UnimplementedAuditServiceServer

	node    *fakeNode
	entries []*epermitv1.AuditEntry
	chain   *epermitv1.VerifyAuditChainResponse
}

// set stores the entries and the answer to VerifyAuditChain, for a test's
// setup.
func (f *fakeAudit) set(entries []*epermitv1.AuditEntry, chain *epermitv1.VerifyAuditChainResponse) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.entries, f.chain = entries, chain
}

// ListAuditEntries filters the entries and pages through them; the page
// token is the index of the next matching entry.
func (f *fakeAudit) ListAuditEntries(_ context.Context, req *epermitv1.ListAuditEntriesRequest) (*epermitv1.ListAuditEntriesResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	var match []*epermitv1.AuditEntry
	for _, e := range f.entries {
		switch {
		case req.GetStartTime() != nil && e.GetTime().AsTime().Before(req.GetStartTime().AsTime()),
			req.GetEndTime() != nil && !e.GetTime().AsTime().Before(req.GetEndTime().AsTime()),
			req.GetActor() != "" && e.GetActor() != req.GetActor(),
			req.GetPermitId() != "" && e.GetTarget() != req.GetPermitId():
			continue
		}
		match = append(match, e)
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > 1000:
		return nil, status.Error(codes.InvalidArgument, "page_size must be 0-1000")
	case size == 0:
		size = 100
	}
	start := 0
	if req.GetPageToken() != "" {
		var err error
		if start, err = strconv.Atoi(req.GetPageToken()); err != nil || start > len(match) {
			return nil, status.Error(codes.InvalidArgument, "bad page token")
		}
	}
	end := min(start+size, len(match))
	resp := &epermitv1.ListAuditEntriesResponse{}
	for _, e := range match[start:end] {
		resp.Entries = append(resp.Entries, proto.CloneOf(e))
	}
	if end < len(match) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func (f *fakeAudit) VerifyAuditChain(context.Context, *epermitv1.VerifyAuditChainRequest) (*epermitv1.VerifyAuditChainResponse, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if f.chain == nil {
		return nil, status.Error(codes.Internal, "the test set no chain")
	}
	return proto.CloneOf(f.chain), nil
}
