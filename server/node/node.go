// Package node assembles a permitd node: it opens the store and the issuer
// key in the data folder, builds the gRPC server (interceptors, limits,
// keepalive, health, reflection) with epermit's services, serves, and shuts
// down gracefully.
package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/server/account"
	"github.com/yrd-epermit/epermit/server/application"
	"github.com/yrd-epermit/epermit/server/audit"
	"github.com/yrd-epermit/epermit/server/auth"
	"github.com/yrd-epermit/epermit/server/federation"
	"github.com/yrd-epermit/epermit/server/permit"
	"github.com/yrd-epermit/epermit/server/ratelimit"
	"github.com/yrd-epermit/epermit/server/scenario"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/storeurl"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Files in the data folder.
const (
	StoreFile = "permits.db"
	KeyFile   = "issuer.key"
	// AdminTokenFile holds the bootstrap admin's token, written on the
	// first start of a data folder.
	AdminTokenFile = "admin.token"
)

// Server limits.
const (
	maxRecvMsgSize       = 256 << 10
	maxConcurrentStreams = 1000
	defaultDeadline      = 30 * time.Second
	// streamWorkers are goroutines kept to run calls. Without them gRPC
	// starts a goroutine per call, whose stack then grows through the
	// interceptors, the store and protobuf on every call (runtime.morestack
	// was a tenth of the server's CPU for VerifyPermit); a worker keeps its
	// grown stack. When all are busy, gRPC starts a goroutine as before, so
	// the number only bounds the calls that save the growth: as many as the
	// load shedder lets run by default. (The option is marked experimental
	// in grpc-go.)
	streamWorkers = defaultMaxInFlight
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
	clock  func() time.Time
	keys   *issuerKeys
	status *federation.Status
	grpc   *grpc.Server
	health *health.Server
	lis    net.Listener
	// bootstrapped is the admin token file written by this start, if any.
	bootstrapped string
	// trust holds the federation's trust list, nil without one.
	trust *trust.Holder
	// peers reaches the other members; nil without federation.
	peers *federation.Peers
	// departments are the adapters of the department systems.
	departments *departments
	// obs is the node's metrics and load shedding.
	obs *observer
	// background is the context of the work the node does by itself
	// (watching the trust list, polling status lists, settling pending
	// permits, forwarding applications, delivering service requests);
	// stopBackground ends it and workers counts what still runs.
	background     context.Context
	stopBackground context.CancelFunc
	workers        sync.WaitGroup
}

// goBackground runs work in the background until Shutdown.
func (n *Node) goBackground(work func(ctx context.Context)) {
	n.workers.Go(func() { work(n.background) })
}

// New opens the node's data and binds its listener; Serve starts serving.
func New(cfg Config, opts Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var creds []grpc.ServerOption
	if cfg.TLS.Cert != "" {
		tc, err := pki.ServerConfig(cfg.TLS.Cert, cfg.TLS.Key, cfg.TLS.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if err := checkNodeCert(tc, cfg.Division); err != nil {
			return nil, err
		}
		creds = append(creds, grpc.Creds(credentials.NewTLS(tc)))
	} else if err := checkPlaintext(cfg.Listen); err != nil {
		return nil, err
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = cfg.newLogger(os.Stderr)
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	compiled, err := cfg.compileCatalogue()
	if err != nil {
		return nil, err
	}
	holder, err := loadTrust(cfg.Trust, clock)
	if err != nil {
		return nil, err
	}
	keys, err := loadIssuerKeys(cfg.Data, cfg.Division, holder)
	if err != nil {
		return nil, err
	}
	reasons, _ := cfg.cancelReasons()
	storeURL := cfg.Store
	if storeURL == "" {
		storeURL = filepath.Join(cfg.Data, StoreFile)
	}
	obs, err := newObserver(cfg)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			obs.close(context.Background(), log) // the tracer's exporter
		}
	}()
	st, err := storeurl.Open(context.Background(), storeURL, cfg.Division)
	if err != nil {
		return nil, err
	}
	limiter, err := newLimiter(cfg, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	// raw is the store as opened: what it offers besides store.Store
	// (a shared status list, trust list and members' lists, the Redis
	// client of the rate limits) is looked up on it, not on the timing
	// decorator.
	raw := st
	if obs.metrics != nil {
		st = obs.metrics.Store(st)
		obs.metrics.WatchStore(st, clock, cfg.Metrics.DeadlineAtRiskDays)
	}
	tokenFile := filepath.Join(cfg.Data, AdminTokenFile)
	created, err := account.Bootstrap(context.Background(), st, cfg.Division, tokenFile, clock())
	if err != nil {
		st.Close()
		return nil, err
	}
	keeper, ok := raw.(store.StatusListKeeper)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("store %s keeps no status list", storeURL)
	}
	status, err := federation.NewStatus(context.Background(), keeper, cfg.Division, keys.KeyAt, clock, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	shareTrust(holder, raw, log)
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	depts, err := dialDepartments(cfg)
	if err != nil {
		lis.Close()
		st.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, clock: clock, store: st, keys: keys, status: status, lis: lis, health: health.NewServer(),
		trust: holder, departments: depts, obs: obs}
	n.background, n.stopBackground = context.WithCancel(context.Background())
	var poller *federation.Poller
	if holder != nil {
		if f := cfg.Federation; f.ClientCert != "" {
			tc, err := pki.ClientConfig(f.CA, f.ClientCert, f.ClientKey)
			if err != nil {
				n.stopBackground()
				depts.close()
				lis.Close()
				st.Close()
				return nil, fmt.Errorf("federation: %w", err)
			}
			n.peers = federation.NewPeers(cfg.Division, holder, tc)
			poller = federation.NewPoller(n.peers, holder, f.StatusRefresh, clock, log)
			if sh, ok := raw.(federation.SharedLists); ok {
				poller.WithShared(sh)
			}
			n.goBackground(poller.Run)
			if obs.metrics != nil {
				obs.metrics.WatchStatusLists(poller, clock)
			}
		}
		if cfg.Trust.ListFile != "" {
			n.goBackground(func(ctx context.Context) { holder.Watch(ctx, cfg.Trust.ListFile, cfg.Trust.Refresh, log) })
		} else {
			n.goBackground(func(ctx context.Context) { holder.WatchURL(ctx, cfg.Trust.ListURL, nil, cfg.Trust.Refresh, log) })
		}
	}
	if created {
		n.bootstrapped = tokenFile
	}
	guard := auth.New(auth.Config{
		Store: st, Division: cfg.Division, Limiter: limiter,
		Clock: clock, Logger: log,
	})
	unary, stream := obs.interceptors(log, guard)
	n.grpc = grpc.NewServer(append(append(creds, obs.serverOptions()...),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second, // clients pinging more often are cut off
			PermitWithoutStream: true,             // idle clients may keep their connection alive
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: 15 * time.Minute, // close connections idle this long
			Time:              2 * time.Minute,  // ping a quiet client after this
			Timeout:           20 * time.Second, // and drop it if the ping is not answered
		}),
	)...)
	permitCfg := permit.Config{
		Store:     st,
		Signer:    keys.first.signer,
		Keys:      keys,
		Division:  cfg.Division,
		Authority: cfg.authority(),
		Rules: permit.Rules{
			EndorsementWindowMonths: cfg.Rules.EndorsementWindowMonths,
			CardValidityYears:       cfg.Rules.CardValidityYears,
			CancelReasons:           reasons,
		},
		Status:       status,
		StatusMaxAge: cfg.Federation.StatusMaxAge,
		Trust:        holder,
		Clock:        clock,
		Logger:       log,
	}
	if poller != nil {
		permitCfg.Statuses = poller
		permitCfg.Peers = n.peers
	}
	permits := permit.New(permitCfg)
	requirements, _ := cfg.Applications.requirements()
	appCfg := application.Config{
		Store: st, Issuer: permits, Division: cfg.Division,
		DeadlineDays: cfg.Applications.DeadlineDays, Requirements: requirements,
		Clock: clock, Logger: log,
	}
	if n.peers != nil {
		appCfg.Peers = n.peers
	}
	apps, err := application.New(appCfg)
	if err != nil {
		n.stopBackground()
		n.workers.Wait()
		depts.close()
		lis.Close()
		st.Close()
		return nil, fmt.Errorf("applications: %w", err)
	}
	scenarios := scenario.New(scenario.Config{
		Store: st, Catalogue: compiled, Permits: permits, Division: cfg.Division, Clock: clock, Logger: log,
	})
	permit.RegisterService(n.grpc, permits)
	permit.RegisterImportService(n.grpc, permit.NewImporter(permits))
	permit.RegisterKeyService(n.grpc, permit.NewResigner(permits))
	application.RegisterService(n.grpc, apps)
	account.RegisterService(n.grpc, account.New(account.Config{Store: st, Clock: clock, Logger: log}))
	audit.RegisterService(n.grpc, audit.New(st, log))
	ratelimit.RegisterService(n.grpc, ratelimit.NewService(ratelimit.ServiceConfig{Limiter: limiter, Store: st, Clock: clock, Logger: log}))
	federation.RegisterService(n.grpc, federation.NewService(status, permits).WithApplications(apps))
	scenario.RegisterService(n.grpc, scenarios)
	scenario.RegisterReports(n.grpc, scenario.NewReports(scenarios))
	if n.peers != nil {
		n.goBackground(func(ctx context.Context) {
			if err := permits.RunSettler(ctx, cfg.Federation.StatusRefresh); err != nil {
				log.Error("settling pending permits stopped", "err", err)
			}
		})
	}
	n.goBackground(func(ctx context.Context) { apps.Forward(ctx, application.ForwardOptions{}) })
	n.goBackground(func(ctx context.Context) { scenarios.RunOutbox(ctx, cfg.Outbox.outboxConfig(depts)) })
	healthpb.RegisterHealthServer(n.grpc, n.health)
	n.health.SetServingStatus(epermitv1.PermitService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(n.grpc)
	if err := obs.serve(cfg.Metrics, log); err != nil {
		n.stopBackground()
		n.workers.Wait()
		depts.close()
		lis.Close()
		st.Close()
		return nil, err
	}
	started = true
	return n, nil
}

// Addr is the address the node listens on.
func (n *Node) Addr() net.Addr { return n.lis.Addr() }

// BootstrapTokenFile is the file holding the admin token created by this
// start, or "" when the data folder already had accounts.
func (n *Node) BootstrapTokenFile() string { return n.bootstrapped }

// TLS reports whether the node serves TLS, and whether it requires client
// certificates.
func (n *Node) TLS() (on, mutual bool) { return n.cfg.TLS.Cert != "", n.cfg.TLS.ClientCA != "" }

// KID is the key id of the node's issuer key.
func (n *Node) KID() string { return n.keys.SignerAt(n.clock()).KID() }

// Serve serves until Shutdown; it returns nil after a graceful stop.
func (n *Node) Serve() error {
	n.log.Info("serving", "addr", n.Addr().String(), "division", n.cfg.Division, "kid", n.KID())
	if err := n.grpc.Serve(n.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Shutdown stops taking new calls, lets in-flight calls finish until ctx
// ends (then cuts them off), and closes the store.
func (n *Node) Shutdown(ctx context.Context) error {
	n.stopBackground()
	n.workers.Wait() // their writes finish before the store closes
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
	if n.peers != nil {
		n.peers.Close()
	}
	n.departments.close()
	n.obs.close(ctx, n.log)
	return n.store.Close()
}

// loadTrust loads the configured trust list, or returns nil when none is
// configured. A configured list that cannot be loaded stops the start.
func loadTrust(c TrustConfig, clock func() time.Time) (*trust.Holder, error) {
	if c.RegistryPub == "" {
		return nil, nil
	}
	pub, err := trust.LoadRegistryPublic(c.RegistryPub)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	h, err := trust.NewHolder(trust.HolderConfig{Registry: pub, Clock: clock})
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	if c.ListFile != "" {
		err = h.LoadFile(c.ListFile)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), trust.FetchTimeout)
		var data []byte
		if data, err = trust.FetchURL(ctx, nil, c.ListURL); err == nil {
			err = h.Load(data)
		}
		cancel()
	}
	if err != nil {
		return nil, fmt.Errorf("trust list: %w", err)
	}
	return h, nil
}

// shareTrust makes the trust list shared by the replicas on st, when st
// shares one (trust.Shared): a newer list there that verifies replaces the
// one just loaded. A shared list that does not verify is logged and
// replaced; the node starts with its own list.
func shareTrust(h *trust.Holder, st store.Store, log *slog.Logger) {
	sh, ok := st.(trust.Shared)
	if h == nil || !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), trust.FetchTimeout)
	defer cancel()
	if err := h.Share(ctx, sh); err != nil {
		log.Error("shared trust list: keeping the current list", "err", err)
	}
}

// checkNodeCert refuses a node certificate that names another division.
func checkNodeCert(tc *tls.Config, division string) error {
	if len(tc.Certificates) == 0 || len(tc.Certificates[0].Certificate) == 0 {
		return errors.New("tls: no node certificate")
	}
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil {
		return fmt.Errorf("tls: node certificate: %w", err)
	}
	if d, ok := pki.DivisionFromCert(leaf); ok && d != division {
		return fmt.Errorf("tls: the node certificate is for division %s, but this node serves %s", d, division)
	}
	return nil
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
