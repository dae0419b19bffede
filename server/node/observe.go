package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"

	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/loadshed"
	"github.com/yrd-epermit/epermit/server/metrics"
	"github.com/yrd-epermit/epermit/server/tracing"
)

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	// Listen is the HTTP address serving /metrics; empty turns metrics
	// off. Only loopback addresses, unless AllowRemote.
	Listen string `yaml:"listen"`
	// AllowRemote allows a Listen address beyond loopback: the metrics
	// carry no personal data, but say much about the node's work.
	AllowRemote bool `yaml:"allow_remote"`
	// Pprof also serves the Go profiler at /debug/pprof/, on a loopback
	// Listen only.
	Pprof bool `yaml:"pprof"`
	// DeadlineAtRiskDays: an accepted application whose deadline falls
	// within this many days counts as at risk.
	DeadlineAtRiskDays int `yaml:"deadline_at_risk_days"`
}

// OverloadConfig bounds the calls a node handles at once
// (server/loadshed).
type OverloadConfig struct {
	// MaxInFlight is how many unary calls, health checks aside, are
	// handled at once; 0 turns the limit off.
	MaxInFlight int `yaml:"max_in_flight"`
	// QueueWait is how long a call beyond the limit waits for a slot
	// before it is refused with RESOURCE_EXHAUSTED.
	QueueWait time.Duration `yaml:"queue_wait"`
}

// TracingConfig turns on OpenTelemetry tracing of gRPC calls
// (server/tracing).
type TracingConfig struct {
	// Endpoint is the OTLP/gRPC collector, host:port; empty turns
	// tracing off. Plaintext on loopback, TLS elsewhere.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the fraction of new traces kept, 0..1.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// validate reports what is wrong with the tracing settings.
func (c TracingConfig) validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("tracing.sample_ratio %v is not within 0..1", c.SampleRatio)
	}
	if c.Endpoint == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		return fmt.Errorf("tracing.endpoint: %w", err)
	}
	return nil
}

// Defaults of the settings above.
const (
	defaultAtRiskDays  = 3
	defaultMaxInFlight = 64
	defaultQueueWait   = 100 * time.Millisecond
	defaultSampleRatio = 0.1
	// traceFlushTimeout bounds how long shutdown waits to send the spans
	// still buffered.
	traceFlushTimeout = 5 * time.Second
	// metricsHeaderTimeout bounds how long a scraper may take to send its
	// request headers.
	metricsHeaderTimeout = 5 * time.Second
)

// validate reports what is wrong with the metrics settings.
func (c MetricsConfig) validate() error {
	if c.DeadlineAtRiskDays < 1 || c.DeadlineAtRiskDays > 30 {
		return fmt.Errorf("metrics.deadline_at_risk_days %d is out of range 1..30", c.DeadlineAtRiskDays)
	}
	if c.Listen == "" {
		if c.Pprof {
			return errors.New("metrics.pprof needs metrics.listen")
		}
		return nil
	}
	local, err := isLoopback(c.Listen)
	switch {
	case err != nil:
		return fmt.Errorf("metrics.listen: %w", err)
	case !local && c.Pprof:
		return fmt.Errorf("metrics.pprof is served on a loopback metrics.listen only, not %q", c.Listen)
	case !local && !c.AllowRemote:
		return fmt.Errorf("metrics.listen %q is not a loopback address: set metrics.allow_remote to serve metrics beyond this machine", c.Listen)
	}
	return nil
}

// validate reports what is wrong with the overload settings.
func (c OverloadConfig) validate() error {
	if c.MaxInFlight < 0 || c.QueueWait < 0 || c.QueueWait > 10*time.Second {
		return fmt.Errorf("overload: max_in_flight %d must not be negative, queue_wait %v must be within 0..10s", c.MaxInFlight, c.QueueWait)
	}
	return nil
}

// isLoopback reports whether the host of addr is a loopback address or
// localhost.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback(), nil
}

// observer is the node's metrics, load shedding and tracing, each nil
// when off.
type observer struct {
	metrics *metrics.Metrics
	limiter *loadshed.Limiter
	tracer  *tracing.Tracer
	http    *http.Server
	lis     net.Listener
}

// newObserver builds what cfg turns on; metrics are served once serve is
// called.
func newObserver(cfg Config) (*observer, error) {
	o := &observer{}
	if cfg.Tracing.Endpoint != "" {
		t, err := tracing.New(context.Background(), tracing.Config{Endpoint: cfg.Tracing.Endpoint,
			SampleRatio: cfg.Tracing.SampleRatio, Division: cfg.Division})
		if err != nil {
			return nil, err
		}
		o.tracer = t
	}
	if cfg.Metrics.Listen != "" {
		o.metrics = metrics.New()
	}
	if cfg.Overload.MaxInFlight > 0 {
		o.limiter = loadshed.New(cfg.Overload.MaxInFlight, cfg.Overload.QueueWait)
		if o.metrics != nil {
			o.metrics.WatchLoad(o.limiter)
		}
	}
	return o, nil
}

// serverOptions are the gRPC server options of what is on: tracing's
// stats handler.
func (o *observer) serverOptions() []grpc.ServerOption {
	if o.tracer == nil {
		return nil
	}
	return []grpc.ServerOption{o.tracer.ServerOption()}
}

// interceptors returns the node's interceptors in order: recover from
// panics, count and time the call, shed it under overload, log it, give
// it a deadline, authenticate and authorise it.
func (o *observer) interceptors(log *slog.Logger, guard *auth.Guard) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	unary := []grpc.UnaryServerInterceptor{recoverUnary(log)}
	stream := []grpc.StreamServerInterceptor{recoverStream(log)}
	if o.metrics != nil {
		unary = append(unary, o.metrics.UnaryServerInterceptor())
		stream = append(stream, o.metrics.StreamServerInterceptor())
	}
	if o.limiter != nil {
		unary = append(unary, o.limiter.Unary())
	}
	unary = append(unary, logUnary(log), defaultDeadlineUnary(defaultDeadline), guard.Unary())
	stream = append(stream, logStream(log), guard.Stream())
	return unary, stream
}

// serve binds the metrics address and serves there until close.
func (o *observer) serve(cfg MetricsConfig, log *slog.Logger) error {
	if o.metrics == nil {
		return nil
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("metrics listen: %w", err)
	}
	o.lis = lis
	o.http = &http.Server{Handler: o.metrics.Handler(cfg.Pprof), ReadHeaderTimeout: metricsHeaderTimeout}
	go func() {
		if err := o.http.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	return nil
}

// close stops serving metrics, waiting for scrapes in progress until ctx
// ends, and sends the spans still buffered.
func (o *observer) close(ctx context.Context, log *slog.Logger) {
	if o.http != nil {
		o.http.Shutdown(ctx)
	}
	if o.tracer != nil {
		flush, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
		defer cancel()
		if err := o.tracer.Shutdown(flush); err != nil {
			log.Warn("tracing: spans not sent", "err", err)
		}
	}
}

// MetricsAddr is the address serving /metrics, nil when metrics are off.
func (n *Node) MetricsAddr() net.Addr {
	if n.obs.lis == nil {
		return nil
	}
	return n.obs.lis.Addr()
}
