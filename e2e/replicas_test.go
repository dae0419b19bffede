package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/store/redis/redistest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestReplicasOnRedis: three permitd processes of one division on one
// redis-server, sharing the issuer key, behave as one node: a clerk made
// through the first works on all three, thirty concurrent issuances for
// one citizen through the three end with exactly one permit, and a
// credential issued through one verifies as VALID through another.
func TestReplicasOnRedis(t *testing.T) {
	replicas := startReplicas(t, redistest.Start(t), testConfig, 3)
	first := replicas[0]
	clerk := first.staff().clerk

	citizen := citizenid.NewGenerator(71).Next()
	var (
		mu      sync.Mutex
		issued  []*epermitv1.IssuePermitResponse
		refused int
		wg      sync.WaitGroup
	)
	for i := range 30 {
		r := replicas[i%3]
		wg.Go(func() {
			resp, err := epermitv1.NewPermitServiceClient(r.conn(clerk)).IssuePermit(ctx(t), issueRequest(fmt.Sprintf("rep-%d", i), citizen))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				issued = append(issued, resp)
			case status.Code(err) == codes.AlreadyExists:
				refused++
			default:
				t.Errorf("through %s: %v", r.addr, err)
			}
		})
	}
	wg.Wait()
	if len(issued) != 1 || refused != 29 {
		t.Fatalf("%d issued, %d refused; want 1 and 29", len(issued), refused)
	}
	for _, r := range replicas {
		list, err := epermitv1.NewPermitServiceClient(r.conn(clerk)).ListPermits(ctx(t), &epermitv1.ListPermitsRequest{CitizenId: citizen})
		if err != nil || len(list.Permits) != 1 || list.Permits[0].Id != issued[0].Permit.Id {
			t.Fatalf("replica %s lists %v (%v)", r.addr, list, err)
		}
	}
	v, err := epermitv1.NewPermitServiceClient(replicas[2].conn(clerk)).VerifyPermit(ctx(t), &epermitv1.VerifyPermitRequest{
		Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: issued[0].Credential.Text}})
	if err != nil || v.Verdict != epermitv1.Verdict_VERDICT_VALID {
		t.Fatalf("verified through another replica: %v, %v", v, err)
	}
}

// startReplicas starts n permitd processes of division 330604 on the
// redis-server srv with the configuration cfg, each with a data folder of
// its own and the first one's issuer key, the first one first (it
// creates the bootstrap admin).
func startReplicas(t *testing.T, srv *redistest.Server, cfg string, n int) []*node {
	t.Helper()
	file := filepath.Join(t.TempDir(), "permitd.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(data string) *node {
		n := startNode(t, data, "--listen", "127.0.0.1:0", "--data", data, "--store", srv.URL(), "--log-level", "warn", "--config", file)
		n.data = data
		return n
	}
	first := start(t.TempDir())
	key, err := os.ReadFile(filepath.Join(first.data, "issuer.key"))
	if err != nil {
		t.Fatal(err)
	}
	replicas := []*node{first}
	for range n - 1 {
		data := t.TempDir()
		if err := os.WriteFile(filepath.Join(data, "issuer.key"), key, 0o600); err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, start(data))
	}
	return replicas
}
