package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/store/redis/redistest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestRedisStore starts three nodes of one division on one redis-server
// (--store redis://…), each with a data folder of its own, as replicas
// behind a load balancer: the first creates the bootstrap admin and the
// others know that account; a clerk created through one node issues
// through all three; and 30 issuances for one citizen id, ten through
// each node at once, give that citizen exactly one permit.
func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	start := func() *Node {
		cfg := DefaultConfig()
		cfg.Listen, cfg.Data, cfg.Store, cfg.Log.Level = "127.0.0.1:0", filepath.Join(t.TempDir(), "data"), srv.URL(), "error"
		cfg.Limits = LimitsConfig{}
		n, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		go n.Serve()
		t.Cleanup(func() { n.Shutdown(context.Background()) })
		return n
	}
	dial := func(n *Node, token string) *grpc.ClientConn {
		conn, err := grpc.NewClient(n.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(bearer(token)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	nodes := []*Node{start()}
	admin, err := os.ReadFile(nodes[0].BootstrapTokenFile())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		n := start()
		if _, err := os.Stat(n.BootstrapTokenFile()); err == nil {
			t.Fatal("a second node created a bootstrap admin of its own")
		}
		nodes = append(nodes, n)
	}
	ctx := t.Context()
	who, err := epermitv1.NewAccountServiceClient(dial(nodes[2], strings.TrimSpace(string(admin)))).WhoAmI(ctx, &epermitv1.WhoAmIRequest{})
	if err != nil || !strings.Contains(who.String(), "admin") {
		t.Fatalf("WhoAmI on the third node with the first node's admin token = %v, %v", who, err)
	}
	clerk, err := epermitv1.NewAccountServiceClient(dial(nodes[1], strings.TrimSpace(string(admin)))).CreateAccount(ctx,
		&epermitv1.CreateAccountRequest{Name: "clerk-redis", Division: ownDivision, Roles: roles(clerk)})
	if err != nil {
		t.Fatal(err)
	}
	var permits []epermitv1.PermitServiceClient
	for _, n := range nodes {
		permits = append(permits, epermitv1.NewPermitServiceClient(dial(n, clerk.Token)))
	}
	citizen := citizenid.NewGenerator(6).Next()
	const calls = 30
	var wg sync.WaitGroup
	errs := make([]error, calls)
	for i := range calls {
		wg.Go(func() {
			_, errs[i] = permits[i%len(permits)].IssuePermit(ctx, &epermitv1.IssuePermitRequest{
				RequestId: client.NewRequestID(),
				Holder: &epermitv1.Holder{Name: "测试者丙", CitizenId: citizen, Ethnicity: "汉",
					HukouAddress: "安徽省阜阳市测试县测试镇5号"},
				ResidenceAddress: "浙江省绍兴市上虞区百官街道测试路8号",
			})
		})
	}
	wg.Wait()
	issued := 0
	for _, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			issued++
		case codes.AlreadyExists, codes.FailedPrecondition:
		default:
			t.Fatalf("an issuance for a citizen who holds a permit: %v, want AlreadyExists or FailedPrecondition", err)
		}
	}
	if issued != 1 {
		t.Fatalf("%d of %d concurrent issuances for one citizen through three nodes succeeded, want 1; errors: %v", issued, calls, errs)
	}
	list, err := permits[0].ListPermits(ctx, &epermitv1.ListPermitsRequest{})
	if err != nil || len(list.GetPermits()) != 1 {
		t.Fatalf("ListPermits = %v, %v; want the one permit", list, err)
	}
}
