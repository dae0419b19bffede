package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/citizenid"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

func issueRequest(requestID, citizen string) *epermitv1.IssuePermitRequest {
	return &epermitv1.IssuePermitRequest{
		RequestId: requestID,
		Holder: &epermitv1.Holder{Name: "测试者乙", CitizenId: citizen, Ethnicity: "汉",
			HukouAddress: "江苏省南京市玄武区测试街3号"},
		ResidenceAddress: "浙江省绍兴市上虞区百官街道测试路8号",
	}
}

// TestZeroConfigStart runs permitd with no flags at all: it must serve on
// the documented loopback address with a bbolt file and a 0600 key in
// ./data, and reuse the key after a restart.
func TestZeroConfigStart(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.1:7700"); err != nil {
		t.Fatalf("the default address 127.0.0.1:7700 is taken on this machine: %v", err)
	} else {
		l.Close()
	}
	dir := t.TempDir()
	n := startNode(t, dir)
	if n.addr != "127.0.0.1:7700" {
		t.Fatalf("serving on %s, want 127.0.0.1:7700", n.addr)
	}
	key := filepath.Join(dir, "data", "issuer.key")
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("issuer key mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "permits.db")); err != nil {
		t.Fatal(err)
	}
	// The first start creates the admin account and its 0600 token file.
	if fi, err := os.Stat(filepath.Join(dir, "data", "admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token: %v %v", fi, err)
	}
	if !strings.Contains(n.out.String(), "created the admin account") {
		t.Fatalf("first start did not say where the admin token is:\n%s", n.out)
	}
	n.data = filepath.Join(dir, "data")
	c, _ := n.client()
	k1, err := c.GetIssuerKey(ctx(t), &epermitv1.GetIssuerKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	n.stop()
	n = startNode(t, dir)
	n.data = filepath.Join(dir, "data")
	if strings.Contains(n.out.String(), "created the admin account") {
		t.Fatalf("a restart created the admin account again:\n%s", n.out)
	}
	c, _ = n.client()
	k2, err := c.GetIssuerKey(ctx(t), &epermitv1.GetIssuerKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if k1.Kid != k2.Kid || k1.Division != "330604" {
		t.Fatalf("key after restart %s, before %s", k2.Kid, k1.Kid)
	}
	n.stop()
}

func TestRefusesPlaintextBeyondLoopback(t *testing.T) {
	out, err := runPermitd(t, "--listen", "0.0.0.0:0", "--data", t.TempDir())
	if err == nil {
		t.Fatalf("permitd served plaintext on 0.0.0.0:\n%s", out)
	}
	if want := "only loopback"; !strings.Contains(out, want) {
		t.Fatalf("message %q lacks %q", out, want)
	}
	out, err = runPermitd(t, "--division", "330600", "--data", t.TempDir())
	if err == nil || !strings.Contains(out, "county-level") {
		t.Fatalf("a prefecture code was accepted as issuing division: %v\n%s", err, out)
	}
}

func TestHealthReflectionAndClient(t *testing.T) {
	n := startTestNode(t, "")
	c, conn := n.client()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx(t), &healthpb.HealthCheckRequest{})
	if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", hc, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range resp.GetListServicesResponse().GetService() {
		found = found || s.Name == "epermit.v1.PermitService"
	}
	if !found {
		t.Fatalf("reflection lists %v", resp)
	}

	ids := citizenid.NewGenerator(11)
	issued, err := c.IssuePermit(ctx(t), issueRequest("e2e-1", ids.Next()))
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.VerifyPermit(ctx(t), &epermitv1.VerifyPermitRequest{
		Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: issued.Credential.Text}})
	if err != nil || v.Verdict != epermitv1.Verdict_VERDICT_VALID {
		t.Fatalf("verify = %v, %v", v, err)
	}
	// An oversized message is refused by the server's limit.
	big := issueRequest("e2e-2", ids.Next())
	big.ResidenceAddress = string(make([]byte, 512<<10))
	_, err = c.IssuePermit(ctx(t), big)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized request: %v", err)
	}
	n.stop()
}

// TestKill9KeepsAcknowledgedWrites kills permitd with SIGKILL while many
// clients issue permits, restarts it on the same data and checks that every
// acknowledged permit is there and that retrying its request changes
// nothing.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	data := t.TempDir()
	n := startTestNode(t, data)
	c, _ := n.client()
	type acked struct {
		req  *epermitv1.IssuePermitRequest
		resp *epermitv1.IssuePermitResponse
	}
	var (
		mu    sync.Mutex
		ack   []acked
		stop  atomic.Bool
		wg    sync.WaitGroup
		ids   = citizenid.NewGenerator(99)
		idsMu sync.Mutex
	)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				idsMu.Lock()
				req := issueRequest(fmt.Sprintf("kill9-%d-%d", w, i), ids.Next())
				idsMu.Unlock()
				resp, err := c.IssuePermit(ctx(t), req)
				if err != nil {
					return // the node is gone
				}
				mu.Lock()
				ack = append(ack, acked{req, resp})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	n.kill()
	stop.Store(true)
	wg.Wait()
	if len(ack) < 50 {
		t.Fatalf("only %d permits acknowledged before the kill", len(ack))
	}

	n = startTestNode(t, data)
	c, _ = n.client()
	for _, a := range ack {
		got, err := c.GetPermit(ctx(t), &epermitv1.GetPermitRequest{PermitId: a.resp.Permit.Id})
		if err != nil {
			t.Fatalf("acknowledged permit %s lost after kill -9: %v", a.resp.Permit.Id, err)
		}
		if got.Permit.Version != 1 || got.Permit.Holder.CitizenId != a.req.Holder.CitizenId {
			t.Fatalf("permit %s changed: %v", a.resp.Permit.Id, got.Permit)
		}
	}
	// A retry of an acknowledged request returns the first result.
	again, err := c.IssuePermit(ctx(t), ack[0].req)
	if err != nil || !proto.Equal(again, ack[0].resp) {
		t.Fatalf("retry after restart = %v, %v; want %v", again, err, ack[0].resp)
	}
	t.Logf("%d acknowledged permits survived kill -9", len(ack))
	n.stop()
}
