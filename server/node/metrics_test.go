package node

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"

	"github.com/yrd-epermit/epermit/server/devdepartment/sim"
	"github.com/yrd-epermit/epermit/server/metrics/metricstest"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/store/storetest"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestMetricsOfARealNode scrapes /metrics of a node serving on loopback
// after calls: the RPC counter of a method moved for each code, the
// latency histogram has samples, store operations are timed by outcome,
// the outbox depth and age follow the requests due (held in flight by a
// department that takes an hour), and the applications overdue or at risk
// are counted. Nothing in it is personal data.
func TestMetricsOfARealNode(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	now := time.Now()

	// Three service requests due since May 2026, and four applications:
	// one overdue, two due within the three days at risk, one later.
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(data, StoreFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r := storetest.NewServiceRequest(storetest.ServiceRequestID(i), storetest.PermitID(i))
		if err := st.WriteServiceRequest(t.Context(), store.ServiceRequestWrite{Request: r}); err != nil {
			t.Fatal(err)
		}
	}
	for i, days := range []int{-1, 1, 2, 10} {
		a := storetest.NewApplication(storetest.ApplicationID(i), storetest.CitizenID(i))
		a.Deadline = timestamppb.New(now.AddDate(0, 0, days))
		if err := st.WriteApplication(t.Context(), store.ApplicationWrite{Application: a}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	slow, err := sim.New(sim.Config{Department: "education", Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	deptSrv := grpc.NewServer()
	slow.Register(deptSrv)
	deptLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go deptSrv.Serve(deptLis)
	t.Cleanup(func() { deptSrv.Stop(); slow.Close() })

	cfg := DefaultConfig()
	cfg.Listen, cfg.Data, cfg.Log.Level = "127.0.0.1:0", data, "error"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Departments = map[string]DepartmentConfig{"education": {Endpoint: deptLis.Addr().String(), Timeout: time.Hour}}
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	go n.Serve()
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	url := "http://" + n.MetricsAddr().String() + "/metrics"

	admin := dialPlain(t, n, adminTokenOf(t, n))
	clerk, err := epermitv1.NewAccountServiceClient(admin).CreateAccount(t.Context(),
		&epermitv1.CreateAccountRequest{Name: "clerk1", Roles: roles(clerk)})
	if err != nil {
		t.Fatal(err)
	}
	permits := epermitv1.NewPermitServiceClient(dialPlain(t, n, clerk.Token))
	if _, err := permits.IssuePermit(t.Context(), &epermitv1.IssuePermitRequest{RequestId: "metrics-1",
		Holder: &epermitv1.Holder{Name: "测试者戊", CitizenId: "340104199003077311", Ethnicity: "汉",
			HukouAddress: "安徽省合肥市蜀山区测试路1号"},
		ResidenceAddress: "浙江省绍兴市上虞区曹娥街道测试小区2幢301室"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := permits.GetPermit(t.Context(), &epermitv1.GetPermitRequest{PermitId: "not-a-permit"}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("GetPermit of a malformed id: %v", err)
		}
	}

	// The outbox claims the three requests, due since May, and holds them
	// in delivery.
	deadline := time.Now().Add(20 * time.Second)
	var s metricstest.Scrape
	for {
		s = metricstest.Get(t, url)
		if v, _ := s.Value("epermit_store_operation_seconds", map[string]string{"operation": "ClaimDeliveries", "outcome": "ok"}); v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the outbox did not claim the three requests")
		}
		time.Sleep(50 * time.Millisecond)
	}
	method := func(m, code string) map[string]string {
		l := map[string]string{"grpc_service": "epermit.v1.PermitService", "grpc_method": m}
		if code != "" {
			l["grpc_code"] = code
		}
		return l
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
	}{
		{"grpc_server_handled_total", method("IssuePermit", "OK"), func(v float64) bool { return v == 1 }},
		{"grpc_server_handled_total", method("GetPermit", "InvalidArgument"), func(v float64) bool { return v == 2 }},
		{"grpc_server_started_total", method("GetPermit", ""), func(v float64) bool { return v == 2 }},
		{"grpc_server_handling_seconds", method("IssuePermit", ""), func(v float64) bool { return v == 1 }},
		{"epermit_store_operation_seconds", map[string]string{"operation": "WritePermit", "outcome": "ok"}, func(v float64) bool { return v >= 1 }},
		{"epermit_store_operation_seconds", map[string]string{"operation": "CreateAccount", "outcome": "ok"}, func(v float64) bool { return v >= 1 }},
		{"epermit_outbox_requests", nil, func(v float64) bool { return v == 3 }},
		{"epermit_outbox_due_requests", nil, func(v float64) bool { return v == 3 }},
		{"epermit_outbox_oldest_due_age_seconds", nil, func(v float64) bool { return v > 24*3600 }}, // due since May 2026
		{"epermit_applications_overdue", nil, func(v float64) bool { return v == 1 }},
		{"epermit_applications_deadline_at_risk", map[string]string{"days": "3"}, func(v float64) bool { return v == 2 }},
		{"epermit_calls_shed_total", nil, func(v float64) bool { return v == 0 }},
		{"go_goroutines", nil, func(v float64) bool { return v > 0 }},
	} {
		if v, ok := s.Value(c.name, c.labels); !ok || !c.want(v) {
			t.Errorf("%s%v = %v (found %v)", c.name, c.labels, v, ok)
		}
	}
	for name := range s {
		if strings.Contains(name, "citizen") || strings.Contains(name, "holder") {
			t.Errorf("metric %s may carry personal data", name)
		}
	}
}

// dialPlain connects to n over plaintext loopback, with a bearer token
// when token is not empty.
func dialPlain(t *testing.T, n *Node, token string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(n.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// adminTokenOf reads the bootstrap admin's token of n.
func adminTokenOf(t *testing.T, n *Node) string {
	t.Helper()
	return (&mtlsNode{node: n}).adminToken(t)
}

// TestMetricsAndOverloadConfig: metrics and tracing are off by default,
// metrics on
// loopback only unless allowed, pprof only on loopback, and the overload
// settings are bounded; each refusal names the setting.
func TestMetricsAndOverloadConfig(t *testing.T) {
	def := DefaultConfig()
	if def.Metrics.Listen != "" || def.Metrics.Pprof || def.Overload.MaxInFlight != defaultMaxInFlight ||
		def.Overload.QueueWait != defaultQueueWait || def.Tracing.Endpoint != "" {
		t.Fatalf("defaults: %+v %+v %+v", def.Metrics, def.Overload, def.Tracing)
	}
	for _, tt := range []struct {
		yaml, want string // want "" for valid
	}{
		{"metrics: {listen: 127.0.0.1:9464, pprof: true}", ""},
		{"metrics: {listen: \"[::1]:9464\"}", ""},
		{"metrics: {listen: localhost:9464}", ""},
		{"metrics: {listen: 0.0.0.0:9464, allow_remote: true}", ""},
		{"metrics: {listen: 0.0.0.0:9464}", "metrics.allow_remote"},
		{"metrics: {listen: 10.1.2.3:9464, allow_remote: true, pprof: true}", "metrics.pprof"},
		{"metrics: {pprof: true}", "metrics.pprof needs metrics.listen"},
		{"metrics: {listen: nonsense}", "metrics.listen"},
		{"metrics: {deadline_at_risk_days: 0}", "metrics.deadline_at_risk_days"},
		{"overload: {max_in_flight: 0}", ""},
		{"overload: {max_in_flight: -1}", "overload: max_in_flight"},
		{"overload: {queue_wait: 1m}", "queue_wait"},
		{"tracing: {endpoint: 127.0.0.1:4317, sample_ratio: 1}", ""},
		{"tracing: {endpoint: collector}", "tracing.endpoint"},
		{"tracing: {sample_ratio: 2}", "tracing.sample_ratio"},
	} {
		cfg := DefaultConfig()
		if err := yaml.Unmarshal([]byte(tt.yaml), &cfg); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.yaml, err, tt.want)
		}
	}
	env := map[string]string{"PERMITD_METRICS_LISTEN": "127.0.0.1:9464"}
	cfg, err := Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.Metrics.Listen != "127.0.0.1:9464" {
		t.Fatalf("PERMITD_METRICS_LISTEN: %q, %v", cfg.Metrics.Listen, err)
	}
	if _, err := Load([]string{"--metrics-listen", "192.0.2.1:9464"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("--metrics-listen beyond loopback accepted")
	}
}
