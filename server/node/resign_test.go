package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/yrd-epermit/epermit/citizenid"
	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// rotatingNode is a node on loopback whose trust list names its first key
// until switchAt and a second key, made by NewIssuerKey, from then on.
type rotatingNode struct {
	node              *Node
	clock             *movableClock
	firstKID, nextKID string
	switchAt          time.Time
	list              *trust.List
	registry          ed25519.PrivateKey
}

func startRotatingNode(t testing.TB) *rotatingNode {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	first, err := credential.LoadOrCreateKey(filepath.Join(data, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	firstKID, _ := credential.KID(first.Public())
	nextKID, nextPEM, err := NewIssuerKey(data)
	if err != nil {
		t.Fatal(err)
	}
	pemData, _ := os.ReadFile(nextPEM)
	nextPub, err := credential.ParsePublicKeyPEM(pemData)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Truncate(time.Second)
	r := &rotatingNode{clock: &movableClock{now: start}, firstKID: firstKID, nextKID: nextKID, switchAt: start.Add(time.Hour)}
	registry, _ := trust.NewRegistryKey()
	r.registry = registry
	regFile := filepath.Join(dir, "registry.pem")
	if err := trust.SaveRegistryPublic(regFile, registry.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	r.list = &trust.List{Sequence: 1, IssuedAt: start, ExpiresAt: start.Add(30 * 24 * time.Hour), Members: []trust.Member{{
		Division: "330604", Name: "浙江省绍兴市上虞区", Province: "330000", Endpoint: "127.0.0.1:7700",
		Keys: []trust.IssuerKey{
			{KID: firstKID, Algorithm: trust.AlgorithmEdDSA, PublicKey: first.Public(), NotBefore: start.Add(-time.Hour), NotAfter: r.switchAt.Add(time.Hour)},
			{KID: nextKID, Algorithm: trust.AlgorithmEdDSA, PublicKey: nextPub, NotBefore: r.switchAt, NotAfter: r.switchAt.AddDate(2, 0, 0)},
		}}}}
	listFile := filepath.Join(dir, "trustlist.cose")
	if err := os.WriteFile(listFile, r.signList(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen, cfg.Data = "127.0.0.1:0", data
	cfg.Limits = LimitsConfig{}
	cfg.Trust = TrustConfig{RegistryPub: regFile, ListFile: listFile, Refresh: time.Hour}
	n, err := New(cfg, Options{Clock: r.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go n.Serve()
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	r.node = n
	return r
}

// signList signs r.list with the registry key.
func (r *rotatingNode) signList(t testing.TB) []byte {
	t.Helper()
	b, err := trust.Sign(r.list, r.registry)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resign runs the drill to its end, or until stop says so after a
// response, and returns the responses.
func resign(ctx context.Context, keys epermitv1.KeyServiceClient, req *epermitv1.ResignPermitsRequest,
	stop func(*epermitv1.ResignPermitsResponse) bool) ([]*epermitv1.ResignPermitsResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := keys.ResignPermits(ctx, req)
	if err != nil {
		return nil, err
	}
	var got []*epermitv1.ResignPermitsResponse
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, resp)
		if stop != nil && stop(resp) {
			return got, nil
		}
	}
}

// fieldOf is the field of the first field violation of err.
func fieldOf(err error) (string, string) {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
			return br.FieldViolations[0].Field, br.FieldViolations[0].Reason
		}
	}
	return "", ""
}

// preconditionOf is the type of the first precondition violation of err.
func preconditionOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok && len(pf.Violations) > 0 {
			return pf.Violations[0].Type
		}
	}
	return ""
}

// TestResignPermits: the key compromise drill over a real node (bbolt,
// gRPC on loopback). It is refused while the compromised key still
// signs, for an unknown or malformed kid and a bad batch size; a drill
// cancelled after its first batch and run again re-signs every permit in
// force exactly once (version +1) with the new key, leaves a cancelled
// permit alone, loses none of the suspensions racing it, and removing
// the compromised key from the trust list makes the old credentials
// NOT_VALID while the new ones verify.
func TestResignPermits(t *testing.T) {
	r := startRotatingNode(t)
	ctx := t.Context()
	admin := epermitv1.NewKeyServiceClient(plainConn(t, r.node, epermitv1.Role_ROLE_ADMIN))
	supervisorConn := plainConn(t, r.node, epermitv1.Role_ROLE_SUPERVISOR)
	imports := epermitv1.NewImportServiceClient(supervisorConn)
	clerk := epermitv1.NewPermitServiceClient(plainConn(t, r.node, epermitv1.Role_ROLE_CLERK))

	const n = 2500
	ids := citizenid.NewGenerator(70)
	var batches [][]*epermitv1.ImportRow
	for i := range n {
		if i%1000 == 0 {
			batches = append(batches, nil)
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], importRow(int64(i+2), fmt.Sprintf("resign:%d", i), ids.Next()))
	}
	results, err := importBatches(ctx, imports, batches...)
	if err != nil {
		t.Fatal(err)
	}
	var permitIDs []string
	for _, rs := range results {
		for _, res := range rs {
			if res.Outcome != epermitv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED {
				t.Fatalf("row %d: %v %s", res.Row, res.Outcome, res.Message)
			}
			permitIDs = append(permitIDs, res.PermitId)
		}
	}
	before := map[string]*epermitv1.GetPermitResponse{}
	for _, id := range permitIDs {
		p, err := clerk.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: id})
		if err != nil {
			t.Fatal(err)
		}
		if p.Credential.GetKid() != r.firstKID {
			t.Fatalf("permit %s signed with %s before the switch, want %s", id, p.Credential.GetKid(), r.firstKID)
		}
		before[id] = p
	}
	supervisor := epermitv1.NewPermitServiceClient(supervisorConn)
	cancelled := permitIDs[7]
	pending, err := supervisor.CancelPermit(ctx, &epermitv1.CancelPermitRequest{RequestId: "cancel-7", PermitId: cancelled,
		Version: 1, Reason: epermitv1.CancelReason_CANCEL_REASON_LOCAL_HUKOU})
	if err != nil {
		t.Fatal(err)
	}
	second := epermitv1.NewPermitServiceClient(accountConn(t, r.node, "supervisor2", epermitv1.Role_ROLE_SUPERVISOR))
	if _, err := second.ApproveCancellation(ctx, &epermitv1.ApproveCancellationRequest{RequestId: "approve-7",
		PendingId: pending.Pending.Id}); err != nil {
		t.Fatal(err)
	}

	req := &epermitv1.ResignPermitsRequest{CompromisedKid: r.firstKID}
	if _, err := resign(ctx, admin, req, nil); status.Code(err) != codes.FailedPrecondition || preconditionOf(err) != "KEY_STILL_SIGNING" {
		t.Fatalf("drill before the switch: %v, want FAILED_PRECONDITION KEY_STILL_SIGNING", err)
	}
	r.clock.Set(r.switchAt.Add(time.Minute))
	for _, c := range []struct {
		req           *epermitv1.ResignPermitsRequest
		field, reason string
	}{
		{&epermitv1.ResignPermitsRequest{CompromisedKid: "0123456789abcdef"}, "compromised_kid", "UNKNOWN_KEY"},
		{&epermitv1.ResignPermitsRequest{CompromisedKid: "not-a-kid"}, "compromised_kid", "INVALID"},
		{&epermitv1.ResignPermitsRequest{CompromisedKid: r.firstKID, BatchSize: 1001}, "batch_size", "OUT_OF_RANGE"},
	} {
		_, err := resign(ctx, admin, c.req, nil)
		if f, why := fieldOf(err); status.Code(err) != codes.InvalidArgument || f != c.field || why != c.reason {
			t.Errorf("%v: %v (field %s %s), want INVALID_ARGUMENT %s %s", c.req, err, f, why, c.field, c.reason)
		}
	}
	if _, err := resign(ctx, admin, &epermitv1.ResignPermitsRequest{CompromisedKid: r.nextKID}, nil); preconditionOf(err) != "KEY_STILL_SIGNING" {
		t.Errorf("drill retiring the key that signs now: %v, want KEY_STILL_SIGNING", err)
	}

	// The first run stops after one batch, as a crash would.
	req.BatchSize = 100
	got, err := resign(ctx, admin, req, func(resp *epermitv1.ResignPermitsResponse) bool { return resp.LastPermitId != "" })
	if err != nil {
		t.Fatal(err)
	}
	if first := got[0]; first.Total != n-1 || first.Kid != r.nextKID || !first.CutoverTime.AsTime().Equal(r.switchAt) {
		t.Fatalf("first response %v, want total %d, kid %s, cut-over %v", first, n-1, r.nextKID, r.switchAt)
	}
	doneFirst := got[len(got)-1].Resigned

	// Clerks suspend permits while the rerun walks them; every suspension
	// the node acknowledges must be in the final record.
	var (
		wg        sync.WaitGroup
		suspended sync.Map
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(permitIDs); i += 97 {
				id := permitIDs[i]
				if id == cancelled {
					continue
				}
				for attempt := 0; ; attempt++ {
					p, err := clerk.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: id})
					if err != nil {
						t.Error(err)
						return
					}
					_, err = clerk.SuspendPermit(ctx, &epermitv1.SuspendPermitRequest{RequestId: "suspend-" + id,
						PermitId: id, Version: p.Permit.Version, Reason: "drill race"})
					if status.Code(err) == codes.Aborted && attempt < 20 {
						continue // the drill wrote a new version meanwhile
					}
					if err != nil {
						t.Error(err)
						return
					}
					suspended.Store(id, true)
					break
				}
			}
		}()
	}
	req.IncludeCredentials = true
	got, err = resign(ctx, admin, req, nil)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// The first run may have written a batch more than it reported before
	// it saw the cancel; the rerun re-signs exactly what it found left.
	last := got[len(got)-1]
	if left := got[0].Total; last.Resigned != left || left > n-1-doneFirst || left == 0 {
		t.Errorf("rerun found %d left and re-signed %d, after %d reported by the first run of %d", left, last.Resigned, doneFirst, n-1)
	}
	creds := map[string]*epermitv1.ResignedCredential{}
	for _, resp := range got {
		for _, c := range resp.Credentials {
			creds[c.PermitId] = c
		}
	}
	if len(creds) != n-1 {
		t.Errorf("%d credentials exported, want %d", len(creds), n-1)
	}
	for _, id := range permitIDs {
		p, err := clerk.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: id})
		if err != nil {
			t.Fatal(err)
		}
		want := before[id].Permit.Version + 1 // re-signed once
		if _, ok := suspended.Load(id); ok {
			want++
			if p.Permit.Suspension.GetReason() != "drill race" {
				t.Errorf("permit %s lost its suspension", id)
			}
		}
		if id == cancelled {
			if p.Permit.Version != 2 {
				t.Errorf("cancelled permit %s at version %d, want 2 (not re-signed)", id, p.Permit.Version)
			}
			continue
		}
		if p.Permit.Version != want || p.Credential.GetKid() != r.nextKID {
			t.Errorf("permit %s: version %d kid %s, want version %d kid %s", id, p.Permit.Version, p.Credential.GetKid(), want, r.nextKID)
		}
		if c := creds[id]; c.GetCredential().GetKid() != r.nextKID {
			t.Errorf("exported credential of %s: %v", id, c)
		}
	}
	again, err := resign(ctx, admin, req, nil)
	if err != nil || again[0].Total != 0 || again[len(again)-1].Resigned != 0 {
		t.Fatalf("third run: %v %v, want nothing left to re-sign", again, err)
	}

	// The registry removes the compromised key: its credentials are refused.
	id := permitIDs[5] // not suspended
	verify := func(text string) epermitv1.Verdict {
		resp, err := clerk.VerifyPermit(ctx, &epermitv1.VerifyPermitRequest{Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: text}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Verdict
	}
	if v := verify(before[id].Credential.Text); v != epermitv1.Verdict_VERDICT_VALID {
		t.Fatalf("old credential while its key is listed: %v, want VALID", v)
	}
	r.list.Sequence++
	r.list.Members[0].Keys = r.list.Members[0].Keys[1:]
	if err := r.node.trust.Load(r.signList(t)); err != nil {
		t.Fatal(err)
	}
	if v := verify(before[id].Credential.Text); v != epermitv1.Verdict_VERDICT_NOT_VALID {
		t.Errorf("old credential after the key's removal: %v, want NOT_VALID", v)
	}
	if v := verify(creds[id].Credential.Text); v != epermitv1.Verdict_VERDICT_VALID {
		t.Errorf("new credential: %v, want VALID", v)
	}
}

// accountConn connects to n as a new account with this name and role,
// made with the bootstrap admin's token.
func accountConn(t testing.TB, n *Node, name string, role epermitv1.Role) *grpc.ClientConn {
	t.Helper()
	dial := func(token string) *grpc.ClientConn {
		c, err := grpc.NewClient(n.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(bearer(token)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	admin, err := os.ReadFile(n.BootstrapTokenFile())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := epermitv1.NewAccountServiceClient(dial(strings.TrimSpace(string(admin)))).CreateAccount(context.Background(),
		&epermitv1.CreateAccountRequest{Name: name, Division: n.cfg.Division, Roles: []epermitv1.Role{role}})
	if err != nil {
		t.Fatal(err)
	}
	return dial(resp.Token)
}

// BenchmarkResign measures the key compromise drill over a real node: it
// re-signs 100,000 permits imported before the timer starts, through the
// node's gRPC server into its bbolt file (durable commits), in batches
// of 1,000, and reports permits/s; WithCredentials also signs and streams
// every new credential for the export.
func BenchmarkResign(b *testing.B) {
	const permits, batch = 100_000, 1000
	ids := citizenid.NewGenerator(2027)
	var batches [][]*epermitv1.ImportRow
	for i := 0; i < permits; i += batch {
		var bt []*epermitv1.ImportRow
		for j := i; j < i+batch && j < permits; j++ {
			bt = append(bt, importRow(int64(j+2), fmt.Sprintf("bench:%d", j), ids.Next()))
		}
		batches = append(batches, bt)
	}
	for _, credentials := range []bool{false, true} {
		name := "Drill"
		if credentials {
			name = "DrillWithCredentials"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				r := startRotatingNode(b)
				imports := epermitv1.NewImportServiceClient(plainConn(b, r.node, epermitv1.Role_ROLE_SUPERVISOR))
				if _, err := importBatches(context.Background(), imports, batches...); err != nil {
					b.Fatal(err)
				}
				keys := epermitv1.NewKeyServiceClient(plainConn(b, r.node, epermitv1.Role_ROLE_ADMIN))
				r.clock.Set(r.switchAt.Add(time.Minute))
				b.StartTimer()
				got, err := resign(context.Background(), keys, &epermitv1.ResignPermitsRequest{
					CompromisedKid: r.firstKID, BatchSize: batch, IncludeCredentials: credentials}, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if n := got[len(got)-1].Resigned; n != permits {
					b.Fatalf("re-signed %d, want %d", n, permits)
				}
				r.node.Shutdown(context.Background())
				b.StartTimer()
			}
			b.ReportMetric(float64(permits*b.N)/b.Elapsed().Seconds(), "permits/s")
		})
	}
}
