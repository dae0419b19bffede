package node

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/server/auth"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

const (
	ownDivision   = "330604"
	otherDivision = "310101"
)

// bearer sends a token with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// mtlsNode is a node serving mutual TLS with a development PKI.
type mtlsNode struct {
	node *Node
	pki  string
}

// startMTLSNode starts a node on loopback with mutual TLS; the PKI has a
// workstation certificate "hall" for people and partner certificates for
// the own and another division.
func startMTLSNode(t *testing.T) *mtlsNode {
	t.Helper()
	return startMTLSNodeWith(t, LimitsConfig{})
}

// startMTLSNodeWith is startMTLSNode with rate limits.
func startMTLSNodeWith(t *testing.T, limits LimitsConfig) *mtlsNode {
	t.Helper()
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if err := pki.WriteDevPKI(pkiDir, ownDivision, []string{"localhost", "127.0.0.1"}, []pki.Client{
		{Account: "hall"}, {Account: "partner-own"}, {Account: "partner-far", Division: otherDivision},
	}, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = filepath.Join(dir, "data")
	cfg.Log.Level = "error"
	cfg.Limits = limits
	cfg.TLS = TLSConfig{Cert: filepath.Join(pkiDir, "node.pem"), Key: filepath.Join(pkiDir, "node.key"),
		ClientCA: filepath.Join(pkiDir, "ca.pem")}
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	go n.Serve()
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	return &mtlsNode{node: n, pki: pkiDir}
}

// dial connects over mutual TLS with the named client certificate and,
// when token is not empty, a bearer token.
func (m *mtlsNode) dial(t *testing.T, cert, token string) *grpc.ClientConn {
	t.Helper()
	tc, err := pki.ClientConfig(filepath.Join(m.pki, "ca.pem"),
		filepath.Join(m.pki, cert+".pem"), filepath.Join(m.pki, cert+".key"))
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tc))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(m.node.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// adminToken reads the bootstrap admin's token.
func (m *mtlsNode) adminToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(m.node.BootstrapTokenFile())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// allowed is the expected permission table, written out independently of
// auth.Permissions: for each method, the roles allowed in the node's own
// division and those allowed from another division.
var allowed = map[string]struct{ own, other []epermitv1.Role }{
	"PermitService/IssuePermit":                {own: roles(clerk)},
	"ImportService/ImportPermits":              {own: roles(supervisor)},
	"KeyService/ResignPermits":                 {own: roles(admin)},
	"PermitService/GetPermit":                  {own: roles(clerk, supervisor, partner), other: roles(partner)},
	"PermitService/ListPermits":                {own: roles(clerk, supervisor)},
	"PermitService/EndorsePermit":              {own: roles(clerk)},
	"PermitService/SuspendPermit":              {own: roles(clerk)},
	"PermitService/ReinstatePermit":            {own: roles(supervisor)},
	"PermitService/CancelPermit":               {own: roles(supervisor)},
	"PermitService/ListPendingCancellations":   {own: roles(supervisor)},
	"PermitService/ApproveCancellation":        {own: roles(supervisor)},
	"PermitService/RejectCancellation":         {own: roles(supervisor)},
	"PermitService/VerifyPermit":               {own: roles(clerk, supervisor, partner), other: roles(partner)},
	"AccountService/CreateAccount":             {own: roles(admin)},
	"AccountService/ListAccounts":              {own: roles(admin)},
	"AccountService/DisableAccount":            {own: roles(admin)},
	"AccountService/EnableAccount":             {own: roles(admin)},
	"AccountService/RotateToken":               {own: roles(admin)},
	"AccountService/WhoAmI":                    {own: everyone, other: everyone},
	"ScenarioService/ListScenarios":            {own: everyone},
	"ScenarioService/CheckEligibility":         {own: roles(clerk, supervisor, partner)},
	"ScenarioService/SubmitServiceRequest":     {own: roles(clerk, partner)},
	"ScenarioService/GetServiceRequest":        {own: roles(clerk, supervisor, partner)},
	"ScenarioService/ListServiceRequests":      {own: roles(clerk, supervisor)},
	"ScenarioService/CancelServiceRequest":     {own: roles(clerk, supervisor)},
	"ScenarioService/RetryServiceRequest":      {own: roles(supervisor)},
	"ScenarioService/WatchServiceRequests":     {own: roles(clerk, supervisor, partner)},
	"AuditService/ListAuditEntries":            {own: roles(auditor)},
	"AuditService/VerifyAuditChain":            {own: roles(auditor)},
	"FederationService/GetStatusList":          {own: roles(partner), other: roles(partner)},
	"FederationService/FindPermits":            {own: roles(partner), other: roles(partner)},
	"FederationService/GetPermitStatus":        {own: roles(partner), other: roles(partner)},
	"FederationService/GetResidenceHistory":    {own: roles(partner), other: roles(partner)},
	"FederationService/SupersedePermit":        {own: roles(partner), other: roles(partner)},
	"PermitService/TransferPermit":             {own: roles(clerk)},
	"FederationService/ForwardApplication":     {own: roles(partner), other: roles(partner)},
	"ApplicationService/SubmitApplication":     {own: roles(clerk)},
	"ApplicationService/GetApplication":        {own: roles(clerk, supervisor)},
	"ApplicationService/ListApplications":      {own: roles(clerk, supervisor)},
	"ApplicationService/SupplementApplication": {own: roles(clerk)},
	"ApplicationService/ApproveApplication":    {own: roles(clerk, supervisor)},
	"ApplicationService/RejectApplication":     {own: roles(clerk, supervisor)},
	"RateLimitService/SetRateLimitOverride":    {own: roles(admin)},
	"RateLimitService/ClearRateLimitOverride":  {own: roles(admin)},
	"RateLimitService/ListRateLimitOverrides":  {own: roles(admin)},
	"RateLimitService/ResetRateLimit":          {own: roles(admin)},
}

var (
	admin      = epermitv1.Role_ROLE_ADMIN
	supervisor = epermitv1.Role_ROLE_SUPERVISOR
	clerk      = epermitv1.Role_ROLE_CLERK
	auditor    = epermitv1.Role_ROLE_AUDITOR
	partner    = epermitv1.Role_ROLE_PARTNER
	deptRole   = epermitv1.Role_ROLE_DEPARTMENT
	everyone   = roles(admin, supervisor, clerk, auditor, partner, deptRole)
)

func roles(r ...epermitv1.Role) []epermitv1.Role { return r }

// TestPermissionTableComplete: every method the node serves is in the
// permission table, and the table names no method the node does not serve.
func TestPermissionTableComplete(t *testing.T) {
	m := startMTLSNode(t)
	served := map[string]bool{}
	for svc, info := range m.node.grpc.GetServiceInfo() {
		for _, method := range info.Methods {
			name := "/" + svc + "/" + method.Name
			served[name] = true
			if _, ok := auth.Permissions[name]; !ok {
				t.Errorf("%s is served but missing from auth.Permissions (it is refused to everyone)", name)
			}
		}
	}
	for name := range auth.Permissions {
		if !served[name] {
			t.Errorf("auth.Permissions lists %s, which the node does not serve", name)
		}
	}
	for name, rule := range auth.Permissions {
		if rule.Public || !strings.HasPrefix(name, "/epermit.v1.") {
			continue
		}
		if _, ok := allowed[strings.TrimPrefix(name, "/epermit.v1.")]; !ok {
			t.Errorf("%s has no row in this test's matrix", name)
		}
	}
}

// TestAuthorizationMatrix calls every epermit method as every role, from
// the node's own division and from another, over mutual TLS, and checks
// that exactly the allowed calls get past authorization. Requests are
// empty, so allowed calls end in validation errors and change nothing.
func TestAuthorizationMatrix(t *testing.T) {
	m := startMTLSNode(t)
	ctx := context.Background()
	accounts := epermitv1.NewAccountServiceClient(m.dial(t, "hall", m.adminToken(t)))

	type caller struct {
		role     epermitv1.Role
		division string
		conn     *grpc.ClientConn
	}
	var callers []caller
	for _, div := range []string{ownDivision, otherDivision} {
		for _, r := range everyone {
			name := strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_")) + "-" + div
			kind := epermitv1.AccountKind_ACCOUNT_KIND_PERSON
			if r == partner {
				kind, name = epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM, map[string]string{ownDivision: "partner-own", otherDivision: "partner-far"}[div]
			}
			resp, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: name, Division: div, Roles: roles(r), Kind: kind})
			if err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			conn := m.dial(t, "hall", resp.Token)
			if r == partner {
				conn = m.dial(t, name, "")
			}
			callers = append(callers, caller{r, div, conn})
		}
	}

	for method, want := range allowed {
		desc, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("epermit.v1." + strings.Replace(method, "/", ".", 1)))
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		md := desc.(protoreflect.MethodDescriptor)
		for _, c := range callers {
			ok := slices.Contains(want.own, c.role)
			if c.division != ownDivision {
				ok = slices.Contains(want.other, c.role)
			}
			callCtx := metadata.AppendToOutgoingContext(ctx, auth.PurposeKey, "authorization matrix test")
			err := invoke(callCtx, c.conn, "/epermit.v1."+method, md)
			code := status.Code(err)
			switch {
			case ok && (code == codes.PermissionDenied || code == codes.Unauthenticated):
				t.Errorf("%s as %v of %s: %v, want it allowed", method, c.role, c.division, err)
			case !ok && code != codes.PermissionDenied:
				t.Errorf("%s as %v of %s: code %v (%v), want PermissionDenied", method, c.role, c.division, code, err)
			}
		}
	}
}

// invoke calls a method with an empty request. A server stream is opened
// and read for a moment: an allowed watch sends nothing and runs into the
// deadline; a refused one ends at once. A bidirectional stream gets one
// empty message, which an allowed import refuses as invalid.
func invoke(ctx context.Context, conn *grpc.ClientConn, method string, md protoreflect.MethodDescriptor) error {
	if !md.IsStreamingServer() {
		return conn.Invoke(ctx, method, dynamicpb.NewMessage(md.Input()), dynamicpb.NewMessage(md.Output()))
	}
	if !md.IsStreamingClient() {
		// A bidirectional stream (ImportPermits) answers the empty batch at
		// once, allowed or not; a watch would wait.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: md.IsStreamingClient()}, method)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(dynamicpb.NewMessage(md.Input())); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(dynamicpb.NewMessage(md.Output()))
}

// TestAuthentication: missing, wrong and disabled credentials, and a
// certificate whose division does not match its account.
func TestAuthentication(t *testing.T) {
	m := startMTLSNode(t)
	ctx := context.Background()
	accounts := epermitv1.NewAccountServiceClient(m.dial(t, "hall", m.adminToken(t)))
	clerkAcct, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: "clerk1", Division: ownDivision, Roles: roles(clerk)})
	if err != nil {
		t.Fatal(err)
	}
	// partner-far's certificate names division 310101; registering it under 330604 must not work.
	if _, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: "partner-far", Division: ownDivision,
		Roles: roles(partner), Kind: epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM}); err != nil {
		t.Fatal(err)
	}
	whoami := func(conn *grpc.ClientConn) error {
		_, err := epermitv1.NewAccountServiceClient(conn).WhoAmI(ctx, &epermitv1.WhoAmIRequest{})
		return err
	}
	for name, conn := range map[string]*grpc.ClientConn{
		"no token, certificate without account": m.dial(t, "hall", ""),
		"unknown token":                         m.dial(t, "hall", "ept_NOTATOKEN"),
		"certificate division mismatch":         m.dial(t, "partner-far", ""),
	} {
		if code := status.Code(whoami(conn)); code != codes.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", name, code)
		}
	}
	conn := m.dial(t, "hall", clerkAcct.Token)
	if err := whoami(conn); err != nil {
		t.Fatal(err)
	}
	// A permit id that exists or not: the refusal is the same.
	_, err = epermitv1.NewPermitServiceClient(conn).ReinstatePermit(ctx, &epermitv1.ReinstatePermitRequest{PermitId: "330604-00000000000X"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("clerk reinstating: %v", err)
	}
	if _, err := accounts.DisableAccount(ctx, &epermitv1.DisableAccountRequest{Name: "clerk1"}); err != nil {
		t.Fatal(err)
	}
	if code := status.Code(whoami(conn)); code != codes.Unauthenticated {
		t.Fatalf("disabled account: %v", code)
	}
	rotated, err := accounts.RotateToken(ctx, &epermitv1.RotateTokenRequest{Name: "clerk1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.EnableAccount(ctx, &epermitv1.EnableAccountRequest{Name: "clerk1"}); err != nil {
		t.Fatal(err)
	}
	if code := status.Code(whoami(conn)); code != codes.Unauthenticated {
		t.Fatalf("old token after rotation: %v", code)
	}
	if err := whoami(m.dial(t, "hall", rotated.Token)); err != nil {
		t.Fatalf("new token: %v", err)
	}
	// The last admin cannot be disabled.
	_, err = accounts.DisableAccount(ctx, &epermitv1.DisableAccountRequest{Name: "admin"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("disabling the last admin: %v", err)
	}
}

// TestMutualTLSRefusals: without a client certificate, with one from
// another CA, or with an expired one, no call gets through.
func TestMutualTLSRefusals(t *testing.T) {
	m := startMTLSNode(t)
	other := t.TempDir()
	if err := pki.WriteDevPKI(other, ownDivision, []string{"localhost"}, []pki.Client{{Account: "hall"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(filepath.Join(m.pki, "ca.pem"), filepath.Join(m.pki, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	expired := t.TempDir()
	certPEM, keyPEM, err := ca.IssueClient("hall", ownDivision, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(expired, "hall.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(expired, "hall.key"), keyPEM, 0o600)

	for name, files := range map[string][2]string{
		"no client certificate": {"", ""},
		"another CA":            {filepath.Join(other, "hall.pem"), filepath.Join(other, "hall.key")},
		"expired":               {filepath.Join(expired, "hall.pem"), filepath.Join(expired, "hall.key")},
	} {
		tc, err := pki.ClientConfig(filepath.Join(m.pki, "ca.pem"), files[0], files[1])
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(m.node.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = epermitv1.NewPermitServiceClient(conn).GetIssuerKey(cctx, &epermitv1.GetIssuerKeyRequest{})
		cancel()
		conn.Close()
		if err == nil {
			t.Errorf("%s: the call went through", name)
		}
	}
	// The good certificate works for the public method.
	if _, err := epermitv1.NewPermitServiceClient(m.dial(t, "hall", "")).GetIssuerKey(context.Background(), &epermitv1.GetIssuerKeyRequest{}); err != nil {
		t.Fatal(err)
	}
}

// TestRateLimit: changes beyond an account's token bucket get
// RESOURCE_EXHAUSTED with a retry hint; reads are not limited.
func TestRateLimit(t *testing.T) {
	m := startMTLSNodeWith(t, LimitsConfig{MutationsPerSecond: 0.5, MutationBurst: 3})
	ctx := context.Background()
	accounts := epermitv1.NewAccountServiceClient(m.dial(t, "hall", m.adminToken(t)))
	acct, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: "clerk1", Division: ownDivision, Roles: roles(clerk)})
	if err != nil {
		t.Fatal(err)
	}
	permits := epermitv1.NewPermitServiceClient(m.dial(t, "hall", acct.Token))
	var codesSeen []codes.Code
	var retry *errdetails.RetryInfo
	for range 5 {
		_, err := permits.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{})
		codesSeen = append(codesSeen, status.Code(err))
		for _, d := range status.Convert(err).Details() {
			if r, ok := d.(*errdetails.RetryInfo); ok {
				retry = r
			}
		}
	}
	want := []codes.Code{codes.InvalidArgument, codes.InvalidArgument, codes.InvalidArgument, codes.ResourceExhausted, codes.ResourceExhausted}
	if !slices.Equal(codesSeen, want) {
		t.Fatalf("codes = %v, want %v", codesSeen, want)
	}
	if retry == nil || retry.RetryDelay.AsDuration() <= 0 || retry.RetryDelay.AsDuration() > 2*time.Second {
		t.Fatalf("retry hint = %v", retry)
	}
	// Reads are not limited, and other accounts have their own bucket.
	for range 5 {
		if _, err := permits.ListPermits(ctx, &epermitv1.ListPermitsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: "clerk2", Division: ownDivision, Roles: roles(clerk)}); err != nil {
		t.Fatal(err)
	}
}
