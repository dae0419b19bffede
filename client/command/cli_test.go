package command

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
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
	var out, errOut bytes.Buffer
	err := runCLIWith(context.Background(), stdin, &out, &errOut, args...)
	return cliResult{stdout: out.String(), stderr: errOut.String(), err: err, code: ExitCode(err)}
}

// runCLIWith runs permitctl with args until ctx ends, reading stdin (nil
// for empty) and writing to out and errOut, for commands that run until
// stopped (request watch).
func runCLIWith(ctx context.Context, stdin io.Reader, out, errOut io.Writer, args ...string) error {
	if stdin == nil {
		stdin = bytes.NewReader(nil)
	}
	root := NewRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(out)
	root.SetErr(errOut)
	return root.ExecuteContext(ctx)
}

// fakeNode is an in-memory permitd: a PermitService, with an
// AccountService (fakeAccounts), an AuditService (fakeAudit), an
// ApplicationService (fakeApplications) and a ScenarioService
// (fakeScenarios) beside it.
// It records the mutating requests it receives and the metadata of every
// call, and can be told to require credentials or to fail a method.
type fakeNode struct {
	epermitv1.UnimplementedPermitServiceServer

	accounts  *fakeAccounts
	audit     *fakeAudit
	apps      *fakeApplications
	scenarios *fakeScenarios

	mu          sync.Mutex
	permits     map[string]*epermitv1.Permit
	pending     []*epermitv1.PendingCancellation
	nextPending int
	requests    []proto.Message
	calls       []fakeCall
	// requireAuth makes every call but GetIssuerKey authenticate.
	requireAuth bool
	// failures maps full method names to the error they answer with.
	failures map[string]error
}

// fakeCall is one call the fake node received.
type fakeCall struct {
	method string
	md     metadata.MD
	req    any
}

// callerKey is the context key of the authenticated caller's account.
type callerKey struct{}

// fakeNodeConfig configures startFakeNodeWith.
type fakeNodeConfig struct {
	// tls, when set, makes the node serve TLS with it.
	tls *tls.Config
}

// startFakeNode serves a fakeNode holding permits on a loopback port, in
// plaintext, and returns it with its address.
func startFakeNode(t *testing.T, permits ...*epermitv1.Permit) (*fakeNode, string) {
	t.Helper()
	return startFakeNodeWith(t, fakeNodeConfig{}, permits...)
}

// startFakeNodeWith serves a fakeNode as cfg says.
func startFakeNodeWith(t *testing.T, cfg fakeNodeConfig, permits ...*epermitv1.Permit) (*fakeNode, string) {
	t.Helper()
	n := &fakeNode{permits: map[string]*epermitv1.Permit{}, failures: map[string]error{}}
	n.accounts = &fakeAccounts{node: n, accounts: map[string]*fakeAccount{}}
	n.audit = &fakeAudit{node: n}
	n.apps = &fakeApplications{node: n, apps: map[string]*epermitv1.Application{}}
	n.scenarios = newFakeScenarios(n)
	for _, p := range permits {
		n.permits[p.GetId()] = proto.CloneOf(p)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(n.intercept), grpc.StreamInterceptor(n.interceptStream)}
	if cfg.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.tls)))
	}
	srv := grpc.NewServer(opts...)
	epermitv1.RegisterPermitServiceServer(srv, n)
	epermitv1.RegisterAccountServiceServer(srv, n.accounts)
	epermitv1.RegisterAuditServiceServer(srv, n.audit)
	epermitv1.RegisterApplicationServiceServer(srv, n.apps)
	epermitv1.RegisterScenarioServiceServer(srv, n.scenarios)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return n, lis.Addr().String()
}

// intercept records each call, fails it when told to, and authenticates
// the caller when credentials are required.
func (n *fakeNode) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	n.mu.Lock()
	n.calls = append(n.calls, fakeCall{method: info.FullMethod, md: md.Copy(), req: req})
	fail, requireAuth := n.failures[info.FullMethod], n.requireAuth
	n.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	if requireAuth && info.FullMethod != "/epermit.v1.PermitService/GetIssuerKey" {
		a, _, err := n.accounts.authenticate(ctx)
		if err != nil {
			return nil, err
		}
		ctx = context.WithValue(ctx, callerKey{}, a)
	}
	return handler(ctx, req)
}

// interceptStream records each stream, fails it when told to, and
// authenticates the caller when credentials are required.
func (n *fakeNode) interceptStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	md, _ := metadata.FromIncomingContext(ss.Context())
	n.mu.Lock()
	n.calls = append(n.calls, fakeCall{method: info.FullMethod, md: md.Copy()})
	fail, requireAuth := n.failures[info.FullMethod], n.requireAuth
	n.mu.Unlock()
	if fail != nil {
		return fail
	}
	if requireAuth {
		if _, _, err := n.accounts.authenticate(ss.Context()); err != nil {
			return err
		}
	}
	return handler(srv, ss)
}

// fail makes method, a full method name, answer err; a nil err makes it
// answer as usual again.
func (n *fakeNode) fail(method string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failures[method] = err
}

// requireCredentials makes every call authenticate.
func (n *fakeNode) requireCredentials() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.requireAuth = true
}

// received returns the mutating requests received so far.
func (n *fakeNode) received() []proto.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.requests)
}

// receivedCalls returns every call received so far.
func (n *fakeNode) receivedCalls() []fakeCall {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.calls)
}

// lastCall returns the metadata and request of the last call.
func (n *fakeNode) lastCall(t *testing.T) fakeCall {
	t.Helper()
	calls := n.receivedCalls()
	if len(calls) == 0 {
		t.Fatal("the node received no call")
	}
	return calls[len(calls)-1]
}

// callerName returns the name of the authenticated caller, or def when
// the node does not authenticate.
func callerName(ctx context.Context, def string) string {
	if a, ok := ctx.Value(callerKey{}).(*epermitv1.Account); ok {
		return a.GetName()
	}
	return def
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

// TransferPermit answers with a pending permit that records the old one.
func (n *fakeNode) TransferPermit(_ context.Context, req *epermitv1.TransferPermitRequest) (*epermitv1.TransferPermitResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.requests = append(n.requests, req)
	p := activePermit()
	p.Id, p.IssuingDivision = "330110-7Q2W9E4R6T8Y1", "330110"
	p.Status = epermitv1.PermitStatus_PERMIT_STATUS_PENDING
	p.PendingReason = "waiting for the old issuer to confirm the transfer of 330604-4F7K2M9QXW3B7"
	p.TransferredFrom = "330604-4F7K2M9QXW3B7"
	p.ResidenceAddress = req.GetResidenceAddress()
	p.Version = 2
	return &epermitv1.TransferPermitResponse{Permit: p}, nil
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

// CancelPermit files a pending request and leaves the permit unchanged;
// the pending ids are pc-0001, pc-0002 and so on.
func (n *fakeNode) CancelPermit(ctx context.Context, req *epermitv1.CancelPermitRequest) (*epermitv1.CancelPermitResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.requests = append(n.requests, req)
	p, ok := n.permits[req.GetPermitId()]
	if !ok {
		return nil, notFound(req.GetPermitId())
	}
	if p.GetVersion() != req.GetVersion() {
		return nil, status.Errorf(codes.Aborted, "permit %s is at version %d, not %d; read it again", p.GetId(), p.GetVersion(), req.GetVersion())
	}
	for _, pc := range n.pending {
		if pc.GetPermitId() == p.GetId() {
			return nil, status.Errorf(codes.AlreadyExists, "cancellation %s of permit %s is pending", pc.GetId(), p.GetId())
		}
	}
	n.nextPending++
	pc := &epermitv1.PendingCancellation{
		Id:            fmt.Sprintf("pc-%04d", n.nextPending),
		PermitId:      p.GetId(),
		PermitVersion: p.GetVersion(),
		Reason:        req.GetReason(),
		Note:          req.GetNote(),
		RequestedBy:   callerName(ctx, "sup.li"),
		RequestTime:   ts("2026-03-05 10:00:00"),
	}
	n.pending = append(n.pending, pc)
	return &epermitv1.CancelPermitResponse{Permit: proto.CloneOf(p), Pending: proto.CloneOf(pc)}, nil
}

// ListPendingCancellations lists the pending requests, oldest first.
func (n *fakeNode) ListPendingCancellations(_ context.Context, req *epermitv1.ListPendingCancellationsRequest) (*epermitv1.ListPendingCancellationsResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	resp := &epermitv1.ListPendingCancellationsResponse{}
	for _, pc := range n.pending {
		if req.GetPermitId() == "" || pc.GetPermitId() == req.GetPermitId() {
			resp.Pending = append(resp.Pending, proto.CloneOf(pc))
		}
	}
	return resp, nil
}

// takePending removes and returns pending request id; n.mu is held.
func (n *fakeNode) takePending(id string) (*epermitv1.PendingCancellation, error) {
	i := slices.IndexFunc(n.pending, func(pc *epermitv1.PendingCancellation) bool { return pc.GetId() == id })
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "pending cancellation %s not found", id)
	}
	pc := n.pending[i]
	n.pending = slices.Delete(n.pending, i, i+1)
	return pc, nil
}

// ApproveCancellation cancels or confiscates the permit of a pending
// request made by someone else.
func (n *fakeNode) ApproveCancellation(ctx context.Context, req *epermitv1.ApproveCancellationRequest) (*epermitv1.ApproveCancellationResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.requests = append(n.requests, req)
	i := slices.IndexFunc(n.pending, func(pc *epermitv1.PendingCancellation) bool { return pc.GetId() == req.GetPendingId() })
	if i >= 0 && n.pending[i].GetRequestedBy() == callerName(ctx, "sup.zhou") {
		return nil, status.Error(codes.PermissionDenied, "the approver must be a supervisor other than the requester")
	}
	pc, err := n.takePending(req.GetPendingId())
	if err != nil {
		return nil, err
	}
	p := n.permits[pc.GetPermitId()]
	p.Status = epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED
	if confiscates(pc.GetReason()) {
		p.Status = epermitv1.PermitStatus_PERMIT_STATUS_CONFISCATED
	}
	p.Cancellation = &epermitv1.Cancellation{Reason: pc.GetReason(), Note: pc.GetNote(), Time: ts("2026-03-06 09:00:00")}
	p.Version++
	return &epermitv1.ApproveCancellationResponse{Permit: proto.CloneOf(p)}, nil
}

// RejectCancellation drops a pending request.
func (n *fakeNode) RejectCancellation(_ context.Context, req *epermitv1.RejectCancellationRequest) (*epermitv1.RejectCancellationResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.requests = append(n.requests, req)
	pc, err := n.takePending(req.GetPendingId())
	if err != nil {
		return nil, err
	}
	return &epermitv1.RejectCancellationResponse{Pending: pc}, nil
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
