// Package metrics is what a permitd node tells Prometheus: the registry,
// the gRPC server metrics (go-grpc-middleware's Prometheus provider), the
// latency of every store operation (Store), and the gauges read from the
// node's state when scraped (outbox, application deadlines, status-list
// ages, calls shed under overload). Handler serves them.
//
// No metric carries personal data: labels are RPC methods, status codes,
// store operations and outcomes, and member division codes.
package metrics

import (
	"net/http"
	"net/http/pprof"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// latencyBuckets are the histogram buckets of calls and store operations,
// in seconds: from a cached read (under a millisecond) to a call near its
// deadline.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics owns a node's registry and the collectors in it.
type Metrics struct {
	reg      *prometheus.Registry
	grpc     *grpcprom.ServerMetrics
	storeOps *prometheus.HistogramVec
}

// New returns a registry holding the Go runtime and process collectors,
// the gRPC server metrics and the store operation histogram.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets(latencyBuckets))),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "epermit_store_operation_seconds",
			Help:    "Latency of store operations, by operation (the store.Store method) and outcome.",
			Buckets: latencyBuckets,
		}, []string{"operation", "outcome"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.grpc, m.storeOps,
	)
	return m
}

// UnaryServerInterceptor counts and times unary calls by method and code.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return m.grpc.UnaryServerInterceptor()
}

// StreamServerInterceptor counts and times streams by method and code.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return m.grpc.StreamServerInterceptor()
}

// Register adds collectors to the registry; it panics on a collector that
// clashes with one registered before, a programming error.
func (m *Metrics) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// Handler serves the metrics at /metrics and, when withPprof is true, the
// Go profiler at /debug/pprof/.
func (m *Metrics) Handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError, // a failed store read leaves the other metrics served
		MaxRequestsInFlight: 4,
	}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
