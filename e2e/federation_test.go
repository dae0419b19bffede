package e2e

import (
	"crypto"
	"crypto/ed25519"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// member is one node of a test federation.
type member struct {
	division, name, province string
	addr, data               string
	node                     *node
	clerk, sup1, sup2        string // tokens
}

// federation is a set of real permitd processes over mutual TLS sharing a
// development CA and a signed trust list.
type federation struct {
	t       *testing.T
	dir     string
	members []*member
	// registry signs list, the trust list in listFile.
	registry crypto.Signer
	list     *trust.List
	listFile string
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writePair writes a certificate and key as name.pem and name.key in dir.
func writePair(t *testing.T, dir, name string, cert, key []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startFederation creates the PKI, the issuer keys and the trust list of
// the members, and starts one permitd for each, with status lists fetched
// every second and trusted for maxAge.
func startFederation(t *testing.T, maxAge time.Duration, members ...*member) *federation {
	t.Helper()
	return startFederationRefreshing(t, maxAge, time.Second, members...)
}

// startFederationRefreshing is startFederation with status lists fetched
// every refresh.
func startFederationRefreshing(t *testing.T, maxAge, refresh time.Duration, members ...*member) *federation {
	t.Helper()
	f := &federation{t: t, dir: t.TempDir(), members: members}
	pkiDir := filepath.Join(f.dir, "pki")
	os.MkdirAll(pkiDir, 0o700)
	now := time.Now()
	ca, err := pki.NewCA("epermit e2e CA", now.Add(-2*time.Hour), now.AddDate(2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(pkiDir, "ca.pem"), ca.CertPEM(), 0o644)
	cert, key, err := ca.IssueClient("hall", "330604", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, pkiDir, "hall", cert, key)

	registry, _ := trust.NewRegistryKey()
	registryPub := filepath.Join(f.dir, "registry.pem")
	if err := trust.SaveRegistryPublic(registryPub, registry.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	list := &trust.List{Sequence: 1, IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(24 * time.Hour)}
	for _, m := range members {
		m.addr = freeAddr(t)
		m.data = filepath.Join(f.dir, m.division)
		os.MkdirAll(m.data, 0o700)
		signer, err := credential.LoadOrCreateKey(filepath.Join(m.data, "issuer.key"))
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := credential.KID(signer.Public())
		list.Members = append(list.Members, trust.Member{Division: m.division, Name: m.name, Province: m.province,
			Endpoint: m.addr, Keys: []trust.IssuerKey{{KID: kid, Algorithm: trust.AlgorithmEdDSA, PublicKey: signer.Public(),
				NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)}}})
		cert, key, err := ca.IssueServer(m.division, []string{"127.0.0.1", "localhost"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		writePair(t, pkiDir, "server-"+m.division, cert, key)
		if cert, key, err = ca.IssueClient("node-"+m.division, m.division, now.Add(-time.Hour), now.AddDate(1, 0, 0)); err != nil {
			t.Fatal(err)
		}
		writePair(t, pkiDir, "node-"+m.division, cert, key)
	}
	signed, err := trust.Sign(list, registry)
	if err != nil {
		t.Fatal(err)
	}
	listFile := filepath.Join(f.dir, "trustlist.cose")
	os.WriteFile(listFile, signed, 0o644)
	f.registry, f.list, f.listFile = registry, list, listFile

	for _, m := range members {
		p := func(name string) string { return filepath.Join(pkiDir, name) }
		cfg := fmt.Sprintf(`division: "%s"
listen: %s
data: %s
limits: {mutations_per_second: 0, citizen_mutations_per_minute: 0}
tls: {cert: %s, key: %s, client_ca: %s}
trust: {registry_pub: %s, list_file: %s, refresh: 1s}
federation: {client_cert: %s, client_key: %s, ca: %s, status_refresh: %s, status_max_age: %s}
metrics: {listen: "127.0.0.1:0"}
`, m.division, m.addr, m.data, p("server-"+m.division+".pem"), p("server-"+m.division+".key"), p("ca.pem"),
			registryPub, listFile, p("node-"+m.division+".pem"), p("node-"+m.division+".key"), p("ca.pem"), refresh, maxAge)
		cfgFile := filepath.Join(m.data, "permitd.yaml")
		os.WriteFile(cfgFile, []byte(cfg), 0o600)
		m.node = startNode(t, m.data, "--config", cfgFile, "--log-level", "warn")
		m.node.data = m.data
	}
	// Each member's staff, and an account for every other member's node.
	for _, m := range members {
		admin, err := os.ReadFile(filepath.Join(m.data, "admin.token"))
		if err != nil {
			t.Fatal(err)
		}
		accounts := epermitv1.NewAccountServiceClient(f.dial(m, strings.TrimSpace(string(admin))))
		for name, tok := range map[string]*string{"clerk1": &m.clerk, "sup1": &m.sup1, "sup2": &m.sup2} {
			role := epermitv1.Role_ROLE_SUPERVISOR
			if name == "clerk1" {
				role = epermitv1.Role_ROLE_CLERK
			}
			resp, err := accounts.CreateAccount(ctx(t), &epermitv1.CreateAccountRequest{Name: name, Roles: []epermitv1.Role{role}})
			if err != nil {
				t.Fatal(err)
			}
			*tok = resp.Token
		}
		for _, other := range members {
			if other == m {
				continue
			}
			if _, err := accounts.CreateAccount(ctx(t), &epermitv1.CreateAccountRequest{Name: "node-" + other.division,
				Division: other.division, Roles: []epermitv1.Role{epermitv1.Role_ROLE_PARTNER},
				Kind: epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

// dial connects to member m over mutual TLS as the service hall, with token.
func (f *federation) dial(m *member, token string) *grpc.ClientConn {
	f.t.Helper()
	dir := filepath.Join(f.dir, "pki")
	tc, err := pki.ClientConfig(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "hall.pem"), filepath.Join(dir, "hall.key"))
	if err != nil {
		f.t.Fatal(err)
	}
	conn, err := grpc.NewClient(m.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)), grpc.WithPerRPCCredentials(bearer(token)))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	return conn
}

// permits is m's PermitService as the given token.
func (f *federation) permits(m *member, token string) epermitv1.PermitServiceClient {
	return epermitv1.NewPermitServiceClient(f.dial(m, token))
}

// eventually verifies text at m until want holds, for up to 20 s.
func (f *federation) eventually(m *member, text string, what string, want func(*epermitv1.VerifyPermitResponse) bool) *epermitv1.VerifyPermitResponse {
	f.t.Helper()
	c := f.permits(m, m.clerk)
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := c.VerifyPermit(ctx(f.t), &epermitv1.VerifyPermitRequest{
			Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: text}})
		if err != nil {
			f.t.Fatal(err)
		}
		if want(v) {
			return v
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s at %s: still %v\n%s", what, m.division, v, f.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logs is the output of every member's permitd, for failures.
func (f *federation) logs() string {
	var b strings.Builder
	for _, m := range f.members {
		fmt.Fprintf(&b, "--- %s (%s):\n%s\n", m.division, m.addr, m.node.out)
	}
	return b.String()
}

func verdictIs(want epermitv1.Verdict) func(*epermitv1.VerifyPermitResponse) bool {
	return func(v *epermitv1.VerifyPermitResponse) bool { return v.Verdict == want }
}

// TestCrossCityVerification: in a federation of three, a permit issued in
// Shangyu verifies in Putuo through the trust list and Shangyu's status
// list; its cancellation in Shangyu reaches Putuo with the next refresh;
// with Shangyu stopped, Putuo answers from its cache, and past the maximum
// age a permit it last saw valid is STATUS_UNKNOWN, never VALID, while a
// cancelled one stays NOT VALID.
func TestCrossCityVerification(t *testing.T) {
	shangyu := &member{division: "330604", name: "浙江省绍兴市上虞区", province: "330000"}
	putuo := &member{division: "310107", name: "上海市普陀区", province: "310000"}
	yuhang := &member{division: "330110", name: "浙江省杭州市余杭区", province: "330000"}
	f := startFederation(t, 6*time.Second, shangyu, putuo, yuhang)

	issue := func(requestID, citizen string) *epermitv1.IssuePermitResponse {
		resp, err := f.permits(shangyu, shangyu.clerk).IssuePermit(ctx(t), issueRequest(requestID, citizen))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	kept := issue("fed-1", "340104199003077311")
	cancelled := issue("fed-2", "110101199003074514")

	f.eventually(putuo, kept.Credential.Text, "Shangyu's permit", verdictIs(epermitv1.Verdict_VERDICT_VALID))
	f.eventually(putuo, cancelled.Credential.Text, "Shangyu's permit", verdictIs(epermitv1.Verdict_VERDICT_VALID))

	filed, err := f.permits(shangyu, shangyu.sup1).CancelPermit(ctx(t), &epermitv1.CancelPermitRequest{RequestId: "fed-3",
		PermitId: cancelled.Permit.Id, Version: cancelled.Permit.Version, Reason: epermitv1.CancelReason_CANCEL_REASON_DEATH})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.permits(shangyu, shangyu.sup2).ApproveCancellation(ctx(t), &epermitv1.ApproveCancellationRequest{
		RequestId: "fed-4", PendingId: filed.Pending.Id}); err != nil {
		t.Fatal(err)
	}
	v := f.eventually(putuo, cancelled.Credential.Text, "the cancelled permit", verdictIs(epermitv1.Verdict_VERDICT_NOT_VALID))
	if v.Status != epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED {
		t.Fatalf("cancelled permit in Putuo: %v", v)
	}
	// The answers so far may have come live from Shangyu; the rest needs
	// Putuo to hold a list of Shangyu's made after the cancellation.
	byList := func(verdict epermitv1.Verdict) func(v *epermitv1.VerifyPermitResponse) bool {
		return func(v *epermitv1.VerifyPermitResponse) bool {
			return v.Verdict == verdict && strings.Contains(v.Findings[len(v.Findings)-1].Detail, "by the status list of 330604")
		}
	}
	f.eventually(putuo, cancelled.Credential.Text, "the cancelled permit, by the list", byList(epermitv1.Verdict_VERDICT_NOT_VALID))
	f.eventually(putuo, kept.Credential.Text, "Shangyu's permit, by the list", byList(epermitv1.Verdict_VERDICT_VALID))

	shangyu.node.stop()
	v = f.eventually(putuo, kept.Credential.Text, "with Shangyu down", verdictIs(epermitv1.Verdict_VERDICT_VALID))
	if last := v.Findings[len(v.Findings)-1]; !strings.Contains(last.Detail, "ago") {
		t.Fatalf("the answer from the cache does not say its age: %v", last)
	}
	v = f.eventually(putuo, kept.Credential.Text, "past the maximum age", verdictIs(epermitv1.Verdict_VERDICT_STATUS_UNKNOWN))
	if last := v.Findings[len(v.Findings)-1]; !strings.Contains(last.Detail, "old") {
		t.Fatalf("STATUS_UNKNOWN does not say how old the list is: %v", last)
	}
	if v := f.eventually(putuo, cancelled.Credential.Text, "the cancelled permit, stale", verdictIs(epermitv1.Verdict_VERDICT_NOT_VALID)); v.Status != epermitv1.PermitStatus_PERMIT_STATUS_CANCELLED {
		t.Fatalf("stale cancelled permit: %v", v)
	}
	putuo.node.stop()
}

// TestLiveStatusFallback: when the status list Putuo holds does not know a
// permit of Shangyu (lists refresh hourly here), Putuo asks Shangyu live;
// when Shangyu does not answer either, the verdict is STATUS_UNKNOWN.
func TestLiveStatusFallback(t *testing.T) {
	shangyu := &member{division: "330604", name: "浙江省绍兴市上虞区", province: "330000"}
	putuo := &member{division: "310107", name: "上海市普陀区", province: "310000"}
	f := startFederationRefreshing(t, time.Hour, time.Hour, shangyu, putuo)
	issued, err := f.permits(shangyu, shangyu.clerk).IssuePermit(ctx(t), issueRequest("live-1", "340104199003077311"))
	if err != nil {
		t.Fatal(err)
	}
	verify := func() *epermitv1.VerifyPermitResponse {
		v, err := f.permits(putuo, putuo.clerk).VerifyPermit(ctx(t), &epermitv1.VerifyPermitRequest{
			Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: issued.Credential.Text}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	last := func(v *epermitv1.VerifyPermitResponse) string { return v.Findings[len(v.Findings)-1].Detail }
	if v := verify(); v.Verdict != epermitv1.Verdict_VERDICT_VALID || !strings.Contains(last(v), "live answer from 330604") {
		t.Fatalf("a new permit of Shangyu in Putuo: %v", v)
	}
	if _, err := f.permits(shangyu, shangyu.clerk).SuspendPermit(ctx(t), &epermitv1.SuspendPermitRequest{RequestId: "live-2",
		PermitId: issued.Permit.Id, Version: issued.Permit.Version, Reason: "住址核查"}); err != nil {
		t.Fatal(err)
	}
	if v := verify(); v.Verdict != epermitv1.Verdict_VERDICT_NOT_VALID || v.Status != epermitv1.PermitStatus_PERMIT_STATUS_SUSPENDED {
		t.Fatalf("the suspended permit in Putuo: %v", v)
	}
	shangyu.node.stop()
	if v := verify(); v.Verdict != epermitv1.Verdict_VERDICT_STATUS_UNKNOWN || !strings.Contains(last(v), "did not answer") {
		t.Fatalf("with Shangyu down: %v", v)
	}
}

// TestTrustListRefused: permitd refuses to start on a trust list that is
// unsigned, signed by another key, or expired; a running node ignores a
// list older than the one it has, and takes a newer one without restart.
func TestTrustListRefused(t *testing.T) {
	shangyu := &member{division: "330604", name: "浙江省绍兴市上虞区", province: "330000"}
	putuo := &member{division: "310107", name: "上海市普陀区", province: "310000"}
	f := startFederation(t, time.Minute, shangyu, putuo)
	issued, err := f.permits(putuo, putuo.clerk).IssuePermit(ctx(t), issueRequest("tl-1", "340104199003077311"))
	if err != nil {
		t.Fatal(err)
	}
	f.eventually(shangyu, issued.Credential.Text, "Putuo's permit", verdictIs(epermitv1.Verdict_VERDICT_VALID))

	payload := *f.list
	other, _ := trust.NewRegistryKey()
	byOther, _ := trust.Sign(&payload, other)
	expired := payload
	expired.Sequence, expired.IssuedAt, expired.ExpiresAt = 9, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	expiredData, _ := trust.Sign(&expired, f.registry)
	for name, data := range map[string][]byte{
		"unsigned":         []byte("a list without a signature"),
		"another registry": byOther,
		"expired":          expiredData,
	} {
		dir := t.TempDir()
		listFile := filepath.Join(dir, "trustlist.cose")
		os.WriteFile(listFile, data, 0o644)
		cfg := fmt.Sprintf("listen: 127.0.0.1:0\ndata: %s\ntrust: {registry_pub: %s, list_file: %s}\n",
			filepath.Join(dir, "data"), filepath.Join(f.dir, "registry.pem"), listFile)
		cfgFile := filepath.Join(dir, "permitd.yaml")
		os.WriteFile(cfgFile, []byte(cfg), 0o600)
		out, err := exec.CommandContext(ctx(t), permitdBin, "--config", cfgFile).CombinedOutput() // killed if it serves
		if err == nil || !strings.Contains(string(out), "trust list") {
			t.Errorf("%s: permitd started or failed without naming the trust list: %v\n%s", name, err, out)
		}
	}

	// An older list without Putuo is ignored: Putuo's permit stays valid.
	older := payload
	older.Sequence = f.list.Sequence - 1
	older.Members = []trust.Member{f.list.Members[0]}
	olderData, _ := trust.Sign(&older, f.registry)
	os.WriteFile(f.listFile, olderData, 0o644)
	time.Sleep(2500 * time.Millisecond) // more than two refreshes
	if v := f.eventually(shangyu, issued.Credential.Text, "after an older list", verdictIs(epermitv1.Verdict_VERDICT_VALID)); v == nil {
		t.Fatal("no answer")
	}
	// A newer list without Putuo is taken: Putuo is no longer a member.
	newer := older
	newer.Sequence = f.list.Sequence + 1
	newerData, _ := trust.Sign(&newer, f.registry)
	os.WriteFile(f.listFile, newerData, 0o644)
	v := f.eventually(shangyu, issued.Credential.Text, "after a newer list", verdictIs(epermitv1.Verdict_VERDICT_NOT_VALID))
	if !strings.Contains(v.Findings[len(v.Findings)-1].Detail, "310107") {
		t.Fatalf("the refusal does not name Putuo: %v", v.Findings)
	}
}
