package node

import (
	"context"
	"net"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// collector is an OTLP trace receiver on loopback: a real gRPC
// TraceService that keeps the names of the spans it is sent.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string
	attrs map[string]string
}

// Export keeps the span names and resource attributes of req.
func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			c.attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, s.GetName())
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// TestTracingToACollector: with tracing.endpoint set, a call's span
// reaches the OTLP collector, named by its method and marked with the
// node's division, at the latest when the node shuts down.
func TestTracingToACollector(t *testing.T) {
	c := &collector{attrs: map[string]string{}}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, c)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	cfg := DefaultConfig()
	cfg.Listen, cfg.Data, cfg.Log.Level = "127.0.0.1:0", t.TempDir(), "error"
	cfg.Tracing = TracingConfig{Endpoint: lis.Addr().String(), SampleRatio: 1}
	n, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	go n.Serve()
	if _, err := epermitv1.NewPermitServiceClient(dialPlain(t, n, "")).GetIssuerKey(t.Context(),
		&epermitv1.GetIssuerKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	found := false
	for _, s := range c.spans {
		found = found || s == "epermit.v1.PermitService/GetIssuerKey"
	}
	if !found || c.attrs["epermit.division"] != ownDivision || c.attrs["service.name"] != "permitd" {
		t.Fatalf("spans %q, resource %v", c.spans, c.attrs)
	}
}
