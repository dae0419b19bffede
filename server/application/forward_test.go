package application

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// far is the division of the member that accepts applications for own.
const far = "310107"

// loopPeer is the FederationService of another member, reached in
// process: it hands forwarded applications to that member's service as
// the federation service does, and can be down or lose its answers. The
// mTLS path is covered by the e2e test.
type loopPeer struct {
	epermitv1.FederationServiceClient // only ForwardApplication is called
	from                              string
	target                            *Service

	mu          sync.Mutex
	down        bool
	loseAnswers int
	calls       int
	// refuse names applications (by their id at the sender) the member
	// refuses as invalid.
	refuse map[string]bool
}

func (p *loopPeer) ForwardApplication(ctx context.Context, req *epermitv1.ForwardApplicationRequest, _ ...grpc.CallOption) (*epermitv1.ForwardApplicationResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.down {
		return nil, status.Error(codes.Unavailable, "connection refused")
	}
	if p.refuse[req.GetApplication().GetId()] {
		return nil, status.Error(codes.InvalidArgument, "invalid forwarded application")
	}
	a, err := p.target.ReceiveApplication(ctx, p.from, req.GetApplication())
	if err != nil {
		return nil, err
	}
	if p.loseAnswers > 0 {
		p.loseAnswers--
		return nil, status.Error(codes.Unavailable, "connection reset after the target stored it")
	}
	return &epermitv1.ForwardApplicationResponse{ApplicationId: a.Id, State: a.State}, nil
}

func (p *loopPeer) set(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// fakePeers names the members and reaches them through loopPeers.
type fakePeers map[string]*loopPeer

func (f fakePeers) Members() []trust.Member {
	var out []trust.Member
	for d := range f {
		out = append(out, trust.Member{Division: d})
	}
	return out
}

func (f fakePeers) Client(division string) (epermitv1.FederationServiceClient, error) {
	if p, ok := f[division]; ok {
		return p, nil
	}
	return nil, status.Error(codes.Unavailable, "not a member")
}

// farService is the service of member far, with peers, on its own store;
// its clock runs an hour behind the harness's start.
func farService(t *testing.T, peers Peers) *Service {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "far.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := New(Config{Store: st, Division: far, Peers: peers, Clock: func() time.Time { return start.Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestForwardUntilConfirmed: an application accepted at far for own is
// stored FORWARDING there, retried while own is down and while own's
// answers are lost, and ends FORWARDED at far and REMOTE at own, once.
func TestForwardUntilConfirmed(t *testing.T) {
	h := newHarness(t, Config{})
	peer := &loopPeer{from: far, target: h.svc, down: true, loseAnswers: 1}
	b := farService(t, fakePeers{own: peer})

	req := h.submitRequest(complete...)
	req.TargetDivision = own
	resp, err := b.SubmitApplication(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	sent := resp.Application
	if sent.State != epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING || sent.AcceptingDivision != far ||
		sent.TargetDivision != own || sent.Deadline != nil {
		t.Fatalf("application accepted for another member: %v", sent)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Forward(ctx, ForwardOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 50 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()

	time.Sleep(100 * time.Millisecond)
	if got, _ := b.cfg.Store.GetApplication(t.Context(), sent.Id); got.State != epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING {
		t.Fatalf("with the target down: %v, want still FORWARDING", got)
	}
	peer.set(false)
	var got *epermitv1.Application
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err = b.cfg.Store.GetApplication(t.Context(), sent.Id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == epermitv1.ApplicationState_APPLICATION_STATE_FORWARDED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not forwarded in 10s: %v", got)
		}
	}
	remote := h.list(t, &epermitv1.ListApplicationsRequest{Channel: epermitv1.ApplicationChannel_APPLICATION_CHANNEL_REMOTE}).Applications
	if len(remote) != 1 || len(h.list(t, &epermitv1.ListApplicationsRequest{}).Applications) != 1 {
		t.Fatalf("the target holds %v, want one REMOTE application", remote)
	}
	r := remote[0]
	if got.ForwardedId != r.Id || r.OriginApplicationId != sent.Id || r.AcceptingDivision != far || r.TargetDivision != own ||
		r.State != epermitv1.ApplicationState_APPLICATION_STATE_ACCEPTED || r.Holder.CitizenId != req.Holder.CitizenId {
		t.Fatalf("forwarded %v, at the target %v", got, r)
	}
	// The deadline counts from acceptance at far, not from the forward.
	if !r.AcceptTime.AsTime().Equal(sent.CreateTime.AsTime()) || !r.Deadline.AsTime().Equal(sent.CreateTime.AsTime().AddDate(0, 0, 15)) {
		t.Fatalf("accepted %v with deadline %v, want acceptance at far, %v", r.AcceptTime.AsTime(), r.Deadline.AsTime(), sent.CreateTime.AsTime())
	}
	peer.mu.Lock()
	calls := peer.calls
	peer.mu.Unlock()
	if calls < 3 {
		t.Fatalf("%d forward calls, want at least 3 (down, answer lost, confirmed)", calls)
	}
	// Approval at the target issues the permit.
	ap, err := h.client.ApproveApplication(t.Context(), &epermitv1.ApproveApplicationRequest{
		RequestId: newRequestID(), ApplicationId: r.Id, Version: r.Version})
	if err != nil || ap.Permit.GetHolder().GetCitizenId() != req.Holder.CitizenId {
		t.Fatalf("approving the forwarded application: %v, %v", ap, err)
	}
}

func TestReceiveApplicationRefusals(t *testing.T) {
	h := newHarness(t, Config{})
	peer := &loopPeer{from: far, target: h.svc, down: true}
	b := farService(t, fakePeers{own: peer})
	req := h.submitRequest("id_card")
	req.TargetDivision = own
	resp, err := b.SubmitApplication(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	sent := forwardable(resp.Application)

	_, err = h.svc.ReceiveApplication(t.Context(), own, sent)
	wantCode(t, "a forward from the node's own division", err, codes.FailedPrecondition)
	_, err = h.svc.ReceiveApplication(t.Context(), "320583", sent)
	wantCode(t, "a forward of another member's application", err, codes.InvalidArgument)
	if v := violations(err); !slices.Equal(v, []string{"application.id:NOT_CALLERS"}) {
		t.Fatalf("violations %q", v)
	}
	wrong := forwardable(resp.Application)
	wrong.TargetDivision = "330110"
	_, err = h.svc.ReceiveApplication(t.Context(), far, wrong)
	wantCode(t, "a forward meant for another member", err, codes.InvalidArgument)

	sent.MaterialsProvided = append(sent.MaterialsProvided, "far_only_form")
	a, err := h.svc.ReceiveApplication(t.Context(), far, sent)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != epermitv1.ApplicationState_APPLICATION_STATE_MATERIALS_REQUIRED || len(a.MissingMaterials) != 3 ||
		!slices.Contains(a.MaterialsProvided, "far_only_form") || a.Deadline != nil {
		t.Fatalf("incomplete forwarded application: %v", a)
	}
	again, err := h.svc.ReceiveApplication(t.Context(), far, sent)
	if err != nil || again.Id != a.Id {
		t.Fatalf("repeated forward: %v, %v; want %s again", again, err, a.Id)
	}

	other := h.submitRequest(complete...)
	other.TargetDivision = "330110"
	_, err = b.SubmitApplication(t.Context(), other)
	wantCode(t, "submitting for a division outside the federation", err, codes.InvalidArgument)
	if v := violations(err); !slices.Equal(v, []string{"target_division:NOT_A_MEMBER"}) {
		t.Fatalf("violations %q", v)
	}
}

// TestForwardRefusalBacksOffAlone: an application the target refuses stays
// FORWARDING and is retried on its own, without holding back the others
// for the same target.
func TestForwardRefusalBacksOffAlone(t *testing.T) {
	h := newHarness(t, Config{})
	peer := &loopPeer{from: far, target: h.svc, refuse: map[string]bool{}}
	b := farService(t, fakePeers{own: peer})
	submit := func() *epermitv1.Application {
		req := h.submitRequest(complete...)
		req.TargetDivision = own
		resp, err := b.SubmitApplication(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Application
	}
	refused := submit()
	peer.mu.Lock()
	peer.refuse[refused.Id] = true
	peer.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Forward(ctx, ForwardOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 50 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond)
	accepted := submit() // submitted after the refusals began
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := b.cfg.Store.GetApplication(t.Context(), accepted.Id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == epermitv1.ApplicationState_APPLICATION_STATE_FORWARDED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an application held back by another's refusal: %v", got)
		}
	}
	got, err := b.cfg.Store.GetApplication(t.Context(), refused.Id)
	if err != nil || got.State != epermitv1.ApplicationState_APPLICATION_STATE_FORWARDING {
		t.Fatalf("the refused application: %v, %v; want still FORWARDING", got, err)
	}
	peer.mu.Lock()
	peer.refuse[refused.Id] = false
	peer.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if got, _ := b.cfg.Store.GetApplication(t.Context(), refused.Id); got.State == epermitv1.ApplicationState_APPLICATION_STATE_FORWARDED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refused application was not retried once the target took it")
		}
	}
}
