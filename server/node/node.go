// Package node assembles a permitd node: it opens the store and the issuer
// key in the data folder, builds the gRPC server (interceptors, limits,
// keepalive, health, reflection) with epermit's services, serves, and shuts
// down gracefully.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Files in the data folder.
const (
	StoreFile = "permits.db"
	KeyFile   = "issuer.key"
)

// Server limits.
const (
	maxRecvMsgSize       = 256 << 10
	maxConcurrentStreams = 1000
	defaultDeadline      = 30 * time.Second
)

// Options are what tests and embedders may replace.
type Options struct {
	// Clock tells the time; time.Now when nil.
	Clock func() time.Time
	// Logger logs; one built from Config.Log on stderr when nil.
	Logger *slog.Logger
}

// Node is one division's permitd.
type Node struct {
	cfg    Config
	log    *slog.Logger
	store  store.Store
	signer *credential.Signer
	grpc   *grpc.Server
	health *health.Server
	lis    net.Listener
}

// New opens the node's data and binds its listener; Serve starts serving.
func New(cfg Config, opts Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkPlaintext(cfg.Listen); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = cfg.newLogger(os.Stderr)
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	key, err := credential.LoadOrCreateKey(filepath.Join(cfg.Data, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("issuer key: %w", err)
	}
	signer, err := credential.NewSigner(key)
	if err != nil {
		return nil, fmt.Errorf("issuer key: %w", err)
	}
	reasons, _ := cfg.cancelReasons()
	st, err := bolt.Open(filepath.Join(cfg.Data, StoreFile), nil)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	n := &Node{cfg: cfg, log: log, store: st, signer: signer, lis: lis, health: health.NewServer()}
	n.grpc = grpc.NewServer(
		grpc.ChainUnaryInterceptor(recoverUnary(log), logUnary(log), defaultDeadlineUnary(defaultDeadline)),
		grpc.ChainStreamInterceptor(recoverStream(log), logStream(log)),
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second, // clients pinging more often are cut off
			PermitWithoutStream: true,             // idle clients may keep their connection alive
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: 15 * time.Minute, // close connections idle this long
			Time:              2 * time.Minute,  // ping a quiet client after this
			Timeout:           20 * time.Second, // and drop it if the ping is not answered
		}),
	)
	permit.RegisterService(n.grpc, permit.New(permit.Config{
		Store:     st,
		Signer:    signer,
		Division:  cfg.Division,
		Authority: cfg.authority(),
		Rules: permit.Rules{
			EndorsementWindowMonths: cfg.Rules.EndorsementWindowMonths,
			CardValidityYears:       cfg.Rules.CardValidityYears,
			CancelReasons:           reasons,
		},
		Clock:  opts.Clock,
		Logger: log,
	}))
	healthpb.RegisterHealthServer(n.grpc, n.health)
	n.health.SetServingStatus(epermitv1.PermitService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(n.grpc)
	return n, nil
}

// Addr is the address the node listens on.
func (n *Node) Addr() net.Addr { return n.lis.Addr() }

// KID is the key id of the node's issuer key.
func (n *Node) KID() string { return n.signer.KID() }

// Serve serves until Shutdown; it returns nil after a graceful stop.
func (n *Node) Serve() error {
	n.log.Info("serving", "addr", n.Addr().String(), "division", n.cfg.Division, "kid", n.signer.KID())
	if err := n.grpc.Serve(n.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Shutdown stops taking new calls, lets in-flight calls finish until ctx
// ends (then cuts them off), and closes the store.
func (n *Node) Shutdown(ctx context.Context) error {
	n.health.Shutdown()
	done := make(chan struct{})
	go func() {
		n.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		n.log.Warn("drain deadline passed; cutting off in-flight calls")
		n.grpc.Stop()
		<-done
	}
	return n.store.Close()
}

// checkPlaintext refuses to serve plaintext beyond loopback.
func checkPlaintext(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to serve plaintext on %q: only loopback addresses (127.0.0.1, ::1) may be served without TLS", addr)
}

func (c Config) cancelReasons() ([]epermitv1.CancelReason, error) {
	var out []epermitv1.CancelReason
	for _, r := range c.Rules.CancelReasons {
		v, ok := epermitv1.CancelReason_value["CANCEL_REASON_"+strings.ToUpper(normalise(r))]
		if !ok || v == 0 {
			return nil, fmt.Errorf("rules.cancel_reasons: %q is not a cancellation ground", r)
		}
		out = append(out, epermitv1.CancelReason(v))
	}
	return out, nil
}

func (c Config) logLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Log.Level)); err != nil {
		return 0, fmt.Errorf("log level %q is not debug, info, warn or error", c.Log.Level)
	}
	return l, nil
}
