package node

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/store/redis/redistest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// hourly is a rate that does not refill noticeably during a test: one
// change an hour.
const hourly = 1.0 / 3600

// limitNode is an in-process node on loopback (plaintext) for the rate
// limit tests.
type limitNode struct {
	t       *testing.T
	node    *Node
	data    string
	stopped bool
}

// startLimitNode starts a node with its data in data and its store at
// storeURL ("" for bbolt in data), with these limits.
func startLimitNode(t *testing.T, data, storeURL string, limits LimitsConfig) *limitNode {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen, cfg.Data, cfg.Store, cfg.Log.Level, cfg.Limits = "127.0.0.1:0", data, storeURL, "error", limits
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	go n.Serve()
	ln := &limitNode{t: t, node: n, data: data}
	t.Cleanup(ln.stop)
	return ln
}

// stop shuts the node down, once.
func (n *limitNode) stop() {
	if !n.stopped {
		n.stopped = true
		n.node.Shutdown(context.Background())
	}
}

// conn dials the node with token.
func (n *limitNode) conn(token string) *grpc.ClientConn {
	n.t.Helper()
	conn, err := grpc.NewClient(n.node.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(token)))
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { conn.Close() })
	return conn
}

// adminTokenIn reads the bootstrap admin's token from the data folder.
func adminTokenIn(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// newAccount creates an account with one role and returns its token.
func newAccount(t *testing.T, conn *grpc.ClientConn, name string, r epermitv1.Role) string {
	t.Helper()
	resp, err := epermitv1.NewAccountServiceClient(conn).CreateAccount(context.Background(),
		&epermitv1.CreateAccountRequest{Name: name, Division: ownDivision, Roles: roles(r)})
	if err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	return resp.Token
}

// change makes a change that the guard limits and the handler refuses
// (an empty suspension): INVALID_ARGUMENT when the limit let it through.
func change(conn *grpc.ClientConn) error {
	_, err := epermitv1.NewPermitServiceClient(conn).SuspendPermit(context.Background(), &epermitv1.SuspendPermitRequest{})
	return err
}

// wantPassed fails unless err shows that the change got past the limits.
func wantPassed(t *testing.T, what string, err error) {
	t.Helper()
	if c := status.Code(err); c == codes.ResourceExhausted || c == codes.Unavailable || c == codes.PermissionDenied {
		t.Fatalf("%s: %v, want it past the rate limit", what, err)
	}
}

// wantLimited fails unless err is the refusal of the named limit.
func wantLimited(t *testing.T, what string, err error, limit string) {
	t.Helper()
	st := status.Convert(err)
	named, retry := false, false
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			named = d.GetMetadata()["limit"] == limit
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration() > 0
		}
	}
	if st.Code() != codes.ResourceExhausted || !named || !retry {
		t.Fatalf("%s: %v, want RESOURCE_EXHAUSTED of the %s limit with a retry hint", what, err, limit)
	}
}

// TestRateLimitReplicas runs two nodes of one division on one
// redis-server: a caller's budget is one budget across both, an override
// set through one node holds on the other at once, a reset through one
// refills the bucket on the other, a citizen's budget is shared by every
// caller, and each override change is in the audit log.
func TestRateLimitReplicas(t *testing.T) {
	srv := redistest.Start(t)
	limits := LimitsConfig{MutationsPerSecond: hourly, MutationBurst: 3, CitizenMutationsPerMinute: hourly * 60, CitizenMutationBurst: 2}
	a := startLimitNode(t, filepath.Join(t.TempDir(), "a"), srv.URL(), limits)
	b := startLimitNode(t, filepath.Join(t.TempDir(), "b"), srv.URL(), limits)
	ctx := context.Background()
	admin := adminTokenIn(t, a.data)
	limitsA := epermitv1.NewRateLimitServiceClient(a.conn(admin))
	limitsB := epermitv1.NewRateLimitServiceClient(b.conn(admin))

	// The admin exempts itself through A; it then makes more changes
	// through B than its burst.
	if _, err := limitsA.SetRateLimitOverride(ctx, &epermitv1.SetRateLimitOverrideRequest{Override: &epermitv1.RateLimitOverride{
		Key: "caller:admin", Exempt: true, Note: "setting up"}}); err != nil {
		t.Fatal(err)
	}
	adminB := b.conn(admin)
	clerk1 := newAccount(t, adminB, "clerk1", clerk)
	clerk2 := newAccount(t, adminB, "clerk2", clerk)
	clerk3 := newAccount(t, adminB, "clerk3", clerk)
	auditorToken := newAccount(t, adminB, "auditor1", auditor)

	// clerk1's burst of 3 is spent through both nodes together.
	c1 := []*grpc.ClientConn{a.conn(clerk1), b.conn(clerk1)}
	for i := range 3 {
		wantPassed(t, "clerk1's change within the burst", change(c1[i%2]))
	}
	wantLimited(t, "clerk1's fourth change, on B", change(c1[1]), "caller")
	wantLimited(t, "clerk1's fifth change, on A", change(c1[0]), "caller")

	// An override through A holds on B at once.
	set, err := limitsA.SetRateLimitOverride(ctx, &epermitv1.SetRateLimitOverrideRequest{Override: &epermitv1.RateLimitOverride{
		Key: "caller:clerk1", Limit: &epermitv1.RateLimit{PerSecond: hourly, Burst: 5}, Note: "busy hall"}})
	if err != nil || set.GetOverride().GetUpdateActor() != "admin" || set.GetOverride().GetUpdateTime() == nil {
		t.Fatalf("set = %v, %v", set, err)
	}
	for range 2 {
		wantPassed(t, "clerk1 on B with a burst of 5", change(c1[1]))
	}
	wantLimited(t, "clerk1 beyond the override", change(c1[1]), "caller")

	// A reset through B refills the bucket for A.
	if _, err := limitsB.ResetRateLimit(ctx, &epermitv1.ResetRateLimitRequest{Key: "caller:clerk1"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		wantPassed(t, "clerk1 on A after the reset", change(c1[0]))
	}
	wantLimited(t, "clerk1 beyond the refilled burst", change(c1[0]), "caller")

	// Clearing through B: A lists only the admin's exemption.
	if cleared, err := limitsB.ClearRateLimitOverride(ctx, &epermitv1.ClearRateLimitOverrideRequest{Key: "caller:clerk1"}); err != nil ||
		cleared.GetOverride().GetLimit().GetBurst() != 5 {
		t.Fatalf("clear = %v, %v", cleared, err)
	}
	list, err := limitsA.ListRateLimitOverrides(ctx, &epermitv1.ListRateLimitOverridesRequest{})
	if err != nil || len(list.GetOverrides()) != 1 || list.GetOverrides()[0].GetKey() != "caller:admin" ||
		list.GetCallerDefault().GetBurst() != 3 || list.GetCitizenDefault().GetBurst() != 2 {
		t.Fatalf("list = %v, %v", list, err)
	}

	// One citizen's budget of 2 is shared by every clerk on every node.
	citizen := citizenid.NewGenerator(61).Next()
	issue := func(conn *grpc.ClientConn) error {
		_, err := epermitv1.NewPermitServiceClient(conn).IssuePermit(ctx, &epermitv1.IssuePermitRequest{
			RequestId: client.NewRequestID(),
			Holder: &epermitv1.Holder{Name: "测试者丁", CitizenId: citizen, Ethnicity: "汉",
				HukouAddress: "安徽省阜阳市测试县测试镇5号"},
			ResidenceAddress: "浙江省绍兴市上虞区百官街道测试路8号",
		})
		return err
	}
	if err := issue(a.conn(clerk2)); err != nil {
		t.Fatal(err)
	}
	if err := issue(b.conn(clerk3)); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second issue for the citizen: %v, want AlreadyExists", err)
	}
	wantLimited(t, "a third issue for the citizen", issue(b.conn(clerk2)), "citizen")
	wantPassed(t, "clerk2's other change", change(b.conn(clerk2)))

	// Each override change is audited with the admin and the key.
	entries, err := epermitv1.NewAuditServiceClient(a.conn(auditorToken)).ListAuditEntries(ctx,
		&epermitv1.ListAuditEntriesRequest{Actor: "admin", PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries.GetEntries() {
		if strings.HasPrefix(e.GetMethod(), "/epermit.v1.RateLimitService/") && e.GetOutcome() == "OK" {
			got = append(got, strings.TrimPrefix(e.GetMethod(), "/epermit.v1.RateLimitService/")+" "+e.GetTarget())
		}
	}
	want := []string{"SetRateLimitOverride caller:admin", "SetRateLimitOverride caller:clerk1",
		"ResetRateLimit caller:clerk1", "ClearRateLimitOverride caller:clerk1"}
	if !slices.Equal(got, want) {
		t.Fatalf("audited rate limit changes %v, want %v", got, want)
	}
}

// TestRateLimitOverrideInput: bad overrides are refused with every field
// violation, and nothing is stored.
func TestRateLimitOverrideInput(t *testing.T) {
	n := startLimitNode(t, t.TempDir(), "", LimitsConfig{})
	ctx := context.Background()
	rl := epermitv1.NewRateLimitServiceClient(n.conn(adminTokenIn(t, n.data)))
	for _, tc := range []struct {
		name   string
		req    *epermitv1.RateLimitOverride
		fields []string
	}{
		{"nothing", nil, []string{"override"}},
		{"no kind", &epermitv1.RateLimitOverride{Key: "clerk1", Exempt: true}, []string{"override.key"}},
		{"unknown account", &epermitv1.RateLimitOverride{Key: "caller:nobody", Exempt: true}, []string{"override.key"}},
		{"bad check digit", &epermitv1.RateLimitOverride{Key: "citizen:340104199003077312", Exempt: true}, []string{"override.key"}},
		{"exempt and limit", &epermitv1.RateLimitOverride{Key: "caller:admin", Exempt: true,
			Limit: &epermitv1.RateLimit{PerSecond: 1, Burst: 1}}, []string{"override.limit"}},
		{"neither", &epermitv1.RateLimitOverride{Key: "caller:admin"}, []string{"override.limit"}},
		{"out of range", &epermitv1.RateLimitOverride{Key: "caller:admin", Limit: &epermitv1.RateLimit{PerSecond: -1, Burst: 0},
			Note: strings.Repeat("长", 201)}, []string{"override.limit.per_second", "override.limit.burst", "override.note"}},
	} {
		_, err := rl.SetRateLimitOverride(ctx, &epermitv1.SetRateLimitOverrideRequest{Override: tc.req})
		var fields []string
		for _, d := range status.Convert(err).Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields = append(fields, v.GetField())
				}
			}
		}
		if status.Code(err) != codes.InvalidArgument || !slices.Equal(fields, tc.fields) {
			t.Errorf("%s: %v; fields %v, want InvalidArgument on %v", tc.name, err, fields, tc.fields)
		}
	}
	if _, err := rl.ResetRateLimit(ctx, &epermitv1.ResetRateLimitRequest{Key: "caller:nobody"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("reset of an unknown account: %v", err)
	}
	if _, err := rl.ClearRateLimitOverride(ctx, &epermitv1.ClearRateLimitOverrideRequest{Key: "caller:admin"}); status.Code(err) != codes.NotFound {
		t.Errorf("clearing an override that does not exist: %v", err)
	}
	list, err := rl.ListRateLimitOverrides(ctx, &epermitv1.ListRateLimitOverridesRequest{})
	if err != nil || len(list.GetOverrides()) != 0 || list.GetCallerDefault() != nil {
		t.Fatalf("after refusals: %v, %v; want no override and the caller limit off", list, err)
	}
}

// TestRateLimitOverridesSurviveRestart: on bbolt the overrides are kept in
// the data folder across a restart; a citizen id's x is stored in upper
// case.
func TestRateLimitOverridesSurviveRestart(t *testing.T) {
	data := t.TempDir()
	n := startLimitNode(t, data, "", LimitsConfig{})
	ctx := context.Background()
	admin := adminTokenIn(t, data)
	clerkToken := newAccount(t, n.conn(admin), "clerk1", clerk)
	rl := epermitv1.NewRateLimitServiceClient(n.conn(admin))
	for _, o := range []*epermitv1.RateLimitOverride{
		{Key: "caller:clerk1", Limit: &epermitv1.RateLimit{PerSecond: hourly, Burst: 1}},
		{Key: "citizen:11010119900307109x", Exempt: true},
	} {
		if _, err := rl.SetRateLimitOverride(ctx, &epermitv1.SetRateLimitOverrideRequest{Override: o}); err != nil {
			t.Fatal(err)
		}
	}
	wantPassed(t, "clerk1's first change", change(n.conn(clerkToken)))
	wantLimited(t, "clerk1's second change", change(n.conn(clerkToken)), "caller")
	n.stop()

	n = startLimitNode(t, data, "", LimitsConfig{})
	list, err := epermitv1.NewRateLimitServiceClient(n.conn(admin)).ListRateLimitOverrides(ctx, &epermitv1.ListRateLimitOverridesRequest{})
	if err != nil || len(list.GetOverrides()) != 2 || list.GetOverrides()[0].GetKey() != "caller:clerk1" ||
		list.GetOverrides()[1].GetKey() != "citizen:11010119900307109X" {
		t.Fatalf("after the restart: %v, %v", list, err)
	}
	// The buckets were in memory: the burst is there again, the override too.
	wantPassed(t, "clerk1's first change after the restart", change(n.conn(clerkToken)))
	wantLimited(t, "clerk1's second change after the restart", change(n.conn(clerkToken)), "caller")
}

// TestRateLimitServiceRequestCitizen: a service request for a permit named
// by id counts against its holder's budget, whatever citizen id is sent
// beside it; one with a credential counts against the citizen id sent.
func TestRateLimitServiceRequestCitizen(t *testing.T) {
	n := startLimitNode(t, t.TempDir(), "", LimitsConfig{CitizenMutationsPerMinute: hourly * 60, CitizenMutationBurst: 2})
	ctx := context.Background()
	clerkConn := n.conn(newAccount(t, n.conn(adminTokenIn(t, n.data)), "clerk1", clerk))
	ids := citizenid.NewGenerator(62)
	holder, other := ids.Next(), ids.Next()
	issued, err := epermitv1.NewPermitServiceClient(clerkConn).IssuePermit(ctx, &epermitv1.IssuePermitRequest{
		RequestId: client.NewRequestID(),
		Holder: &epermitv1.Holder{Name: "测试者己", CitizenId: holder, Ethnicity: "汉",
			HukouAddress: "安徽省阜阳市测试县测试镇5号"},
		ResidenceAddress: "浙江省绍兴市上虞区百官街道测试路8号",
	})
	if err != nil {
		t.Fatal(err)
	}
	submit := func(p *epermitv1.ServicePermit) error {
		_, err := epermitv1.NewScenarioServiceClient(clerkConn).SubmitServiceRequest(ctx, &epermitv1.SubmitServiceRequestRequest{
			RequestId: client.NewRequestID(), Permit: p})
		return err
	}
	byID := &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: issued.GetPermit().GetId()}, CitizenId: other}
	wantPassed(t, "the holder's second change", submit(byID))
	wantLimited(t, "the holder's third change, another citizen id sent beside the permit id", submit(byID), "citizen")
	byCredential := &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_CredentialText{CredentialText: "YRD1:X"}, CitizenId: other}
	wantPassed(t, "another citizen's first change", submit(byCredential))
	wantPassed(t, "another citizen's second change", submit(byCredential))
	wantLimited(t, "another citizen's third change", submit(byCredential), "citizen")
}
