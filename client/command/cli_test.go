package command

import (
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// cliResult is the outcome of one permitctl run.
type cliResult struct {
	stdout, stderr string
	err            error
	code           int
}

// runCLI runs permitctl with args, stdin (nil for empty) and captured
// output, the way the end-to-end tests against a real node do.
func runCLI(t *testing.T, stdin io.Reader, args ...string) cliResult {
	t.Helper()
	if stdin == nil {
		stdin = bytes.NewReader(nil)
	}
	var out, errOut bytes.Buffer
	root := NewRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return cliResult{stdout: out.String(), stderr: errOut.String(), err: err, code: ExitCode(err)}
}

// fakeNode is an in-memory PermitService standing in for permitd; it
// records the mutating requests it receives.
type fakeNode struct {
	epermitv1.UnimplementedPermitServiceServer

	mu       sync.Mutex
	permits  map[string]*epermitv1.Permit
	requests []proto.Message
}

// startFakeNode serves a fakeNode holding permits on a loopback port and
// returns it with its address.
func startFakeNode(t *testing.T, permits ...*epermitv1.Permit) (*fakeNode, string) {
	t.Helper()
	n := &fakeNode{permits: map[string]*epermitv1.Permit{}}
	for _, p := range permits {
		n.permits[p.GetId()] = proto.CloneOf(p)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	epermitv1.RegisterPermitServiceServer(srv, n)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return n, lis.Addr().String()
}

// received returns the mutating requests received so far.
func (n *fakeNode) received() []proto.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.requests)
}

func notFound(id string) error {
	st, _ := status.New(codes.NotFound, "permit "+id+" not found").
		WithDetails(&errdetails.ResourceInfo{ResourceType: "permit", ResourceName: id})
	return st.Err()
}

// permit returns a copy of permit id.
func (n *fakeNode) permit(id string) (*epermitv1.Permit, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.permits[id]
	if !ok {
		return nil, notFound(id)
	}
	return proto.CloneOf(p), nil
}

// change records req and applies change to permit id when version matches.
func (n *fakeNode) change(req proto.Message, id string, version int64, change func(*epermitv1.Permit)) (*epermitv1.Permit, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.requests = append(n.requests, req)
	p, ok := n.permits[id]
	if !ok {
		return nil, notFound(id)
	}
	if p.GetVersion() != version {
		return nil, status.Errorf(codes.Aborted, "permit %s is at version %d, not %d; read it again", id, p.GetVersion(), version)
	}
	change(p)
	p.Version++
	return proto.CloneOf(p), nil
}

func (n *fakeNode) IssuePermit(_ context.Context, req *epermitv1.IssuePermitRequest) (*epermitv1.IssuePermitResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.requests = append(n.requests, req)
	p := activePermit()
	p.Holder = req.GetHolder()
	p.ResidenceAddress = req.GetResidenceAddress()
	p.Version = 1
	n.permits[p.GetId()] = p
	return &epermitv1.IssuePermitResponse{Permit: p, Credential: activeCredential()}, nil
}

func (n *fakeNode) GetPermit(_ context.Context, req *epermitv1.GetPermitRequest) (*epermitv1.GetPermitResponse, error) {
	p, err := n.permit(req.GetPermitId())
	if err != nil {
		return nil, err
	}
	return &epermitv1.GetPermitResponse{Permit: p, Credential: activeCredential()}, nil
}

// ListPermits pages through the permits in id order; the token is the
// index of the next permit.
func (n *fakeNode) ListPermits(_ context.Context, req *epermitv1.ListPermitsRequest) (*epermitv1.ListPermitsResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ids []string
	for id, p := range n.permits {
		if req.GetStatus() == 0 || p.GetStatus() == req.GetStatus() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	start := 0
	if req.GetPageToken() != "" {
		var err error
		if start, err = strconv.Atoi(req.GetPageToken()); err != nil {
			return nil, status.Error(codes.InvalidArgument, "bad page token")
		}
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = 50
	}
	resp := &epermitv1.ListPermitsResponse{}
	end := min(start+size, len(ids))
	for _, id := range ids[start:end] {
		resp.Permits = append(resp.Permits, proto.CloneOf(n.permits[id]))
	}
	if end < len(ids) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func (n *fakeNode) EndorsePermit(_ context.Context, req *epermitv1.EndorsePermitRequest) (*epermitv1.EndorsePermitResponse, error) {
	p, err := n.change(req, req.GetPermitId(), req.GetVersion(), func(p *epermitv1.Permit) {
		p.Endorsements = append(p.Endorsements, &epermitv1.Endorsement{Date: "2027-03-01", DueDate: p.GetNextEndorsementDue()})
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.EndorsePermitResponse{Permit: p, Credential: activeCredential()}, nil
}

func (n *fakeNode) SuspendPermit(_ context.Context, req *epermitv1.SuspendPermitRequest) (*epermitv1.SuspendPermitResponse, error) {
	p, err := n.change(req, req.GetPermitId(), req.GetVersion(), func(p *epermitv1.Permit) {
		p.Status = epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED
		p.Suspension = &epermitv1.Suspension{Reason: req.GetReason()}
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.SuspendPermitResponse{Permit: p}, nil
}

func (n *fakeNode) ReinstatePermit(_ context.Context, req *epermitv1.ReinstatePermitRequest) (*epermitv1.ReinstatePermitResponse, error) {
	p, err := n.change(req, req.GetPermitId(), req.GetVersion(), func(p *epermitv1.Permit) {
		p.Status = epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE
		p.Suspension = nil
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.ReinstatePermitResponse{Permit: p}, nil
}

func (n *fakeNode) CancelPermit(_ context.Context, req *epermitv1.CancelPermitRequest) (*epermitv1.CancelPermitResponse, error) {
	p, err := n.change(req, req.GetPermitId(), req.GetVersion(), func(p *epermitv1.Permit) {
		p.Status = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED
		if confiscates(req.GetReason()) {
			p.Status = epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED
		}
		p.Cancellation = &epermitv1.Cancellation{Reason: req.GetReason(), Note: req.GetNote()}
	})
	if err != nil {
		return nil, err
	}
	return &epermitv1.CancelPermitResponse{Permit: p}, nil
}

// VerifyPermit answers validVerification for an active permit's id or the
// test credential, and notValidVerification otherwise.
func (n *fakeNode) VerifyPermit(_ context.Context, req *epermitv1.VerifyPermitRequest) (*epermitv1.VerifyPermitResponse, error) {
	if req.GetCredentialText() == testCredentialText {
		return validVerification(), nil
	}
	if p, err := n.permit(req.GetPermitId()); err == nil && p.GetStatus() == epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE {
		return validVerification(), nil
	}
	return notValidVerification(), nil
}

func (n *fakeNode) GetIssuerKey(context.Context, *epermitv1.GetIssuerKeyRequest) (*epermitv1.GetIssuerKeyResponse, error) {
	return issuerKey(), nil
}

// closedAddress returns a loopback address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// mustEqual fails the test when got and want differ as protos.
func mustEqual(t *testing.T, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
