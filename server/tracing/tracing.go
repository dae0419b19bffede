// Package tracing sends OpenTelemetry traces of a node's gRPC calls to an
// OTLP collector (over gRPC). It is off unless configured.
//
// Spans carry the method, the status code, the peer's address and the
// sizes of messages, never their contents or metadata: no personal data
// and no tokens leave the node this way.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
)

// Config says where traces go.
type Config struct {
	// Endpoint is the collector's OTLP/gRPC address, host:port; plaintext
	// on loopback, TLS verified with the system's roots elsewhere.
	Endpoint string
	// SampleRatio is the fraction of traces started here that are kept
	// (0..1); a caller's sampled trace is always followed.
	SampleRatio float64
	// Division is the node's division code, recorded with every span.
	Division string
}

// Tracer exports the spans of one node.
type Tracer struct {
	provider *sdktrace.TracerProvider
}

// New starts exporting to cfg.Endpoint; spans are batched and sent in the
// background (a collector that is down loses spans, never delays calls).
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	host, _, err := net.SplitHostPort(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("tracing endpoint %q: %w", cfg.Endpoint, err)
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, errors.New("tracing sample ratio must be within 0..1")
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "permitd"),
		attribute.String("epermit.division", cfg.Division))
	return &Tracer{provider: sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)}, nil
}

// ServerOption traces every call the server handles, continuing a trace
// the caller propagates (W3C Trace Context).
func (t *Tracer) ServerOption() grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.provider),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
	))
}

// Shutdown sends the spans still buffered, until ctx ends, and stops.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }
