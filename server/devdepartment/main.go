// Command devdepartment runs a simulated department system: a real gRPC
// server implementing epermit.department.v1.DepartmentService, for demos and
// tests of the node's routing (docs/departments.md).
//
//	go run ./server/devdepartment -department education -latency 20ms -jitter 5ms \
//	    -failure-rate 0.1 -down 30s:15s -decision mixed -report-to 127.0.0.1:7700
//
// It remembers every request id it answered and decides once per id, so a
// retried request gets the same answer, and it counts what it received
// (SimulatorService/GetStats), so tests can prove exactly-once delivery.
// It prints "devdepartment: serving gRPC on ADDR" once it listens (give
// -listen 127.0.0.1:0 for a free port) and stops cleanly on SIGINT or
// SIGTERM. Plaintext is served on loopback only; -tls-cert, -tls-key and
// -client-ca serve mutual TLS. For development and tests only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/yrd-epermit/epermit/department"
	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/server/devdepartment/sim"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
)

// drainTimeout bounds how long stopping waits for calls in flight.
const drainTimeout = 5 * time.Second

func main() {
	// Catch the signals before announcing the address, so that a
	// supervisor's SIGTERM right after start still stops cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "devdepartment:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "devdepartment:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ error }

// options are the parsed flags.
type options struct {
	listen                          string
	sim                             sim.Config
	tlsCert, tlsKey, clientCA       string
	reportTo                        string
	reportCA, reportCert, reportKey string
	reportTokenFile                 string
	logLevel                        slog.Level
}

// parseFlags parses args; usage and flag errors go to stderr.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("devdepartment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `devdepartment serves a simulated department system (DepartmentService and
SimulatorService) for demos and tests. It decides once per request id and
answers retries alike; GetStats tells what it received.

Example:
  devdepartment -department education -latency 20ms -jitter 5ms -failure-rate 0.1 \
      -down 30s:15s -decision accept -report-after 2s -report-to 127.0.0.1:7700

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7800", "gRPC `address`; plaintext on loopback only, port 0 for a free one")
	fs.StringVar(&o.sim.Department, "department", "education", "the department's `code`, e.g. education, hrss, housing")
	fs.DurationVar(&o.sim.Latency, "latency", 0, "how long an answered call takes")
	fs.DurationVar(&o.sim.Jitter, "jitter", 0, "the latency varies by up to this much either way")
	fs.Float64Var(&o.sim.FailureRate, "failure-rate", 0, "`fraction` (0..1) of SubmitRequest calls refused with UNAVAILABLE before anything else")
	fs.Uint64Var(&o.sim.Seed, "seed", 0, "seed of the failures and jitter drawn; 0 picks one (printed)")
	fs.Func("down", "`START:LENGTH` down from START after start for LENGTH, every department call refused with UNAVAILABLE (repeatable), e.g. 5s:10s", func(s string) error {
		out, err := sim.ParseOutage(s)
		if err == nil {
			o.sim.Down.Outages = append(o.sim.Down.Outages, out)
		}
		return err
	})
	fs.DurationVar(&o.sim.Down.Periodic.Every, "down-every", 0, "go down every this long after start (with -down-for)")
	fs.DurationVar(&o.sim.Down.Periodic.For, "down-for", 0, "each periodic outage lasts this long (with -down-every)")
	decision := fs.String("decision", string(sim.ModeAccept), "what SubmitRequest decides: accept (COMPLETED after -report-after), reject, complete, or mixed (by request id)")
	fs.DurationVar(&o.sim.ReportAfter, "report-after", sim.DefaultReportAfter, "how long an accepted request takes to complete")
	fs.StringVar(&o.reportTo, "report-to", "", "the node's `address` (StatusReportService) to report completions to; none when empty")
	fs.StringVar(&o.reportCA, "report-ca", "", "CA `file` the node's certificate must verify against: report over TLS")
	fs.StringVar(&o.reportCert, "report-cert", "", "the department account's client certificate `file` for reporting (mutual TLS)")
	fs.StringVar(&o.reportKey, "report-key", "", "its key `file`")
	fs.StringVar(&o.reportTokenFile, "report-token-file", "", "`file` holding a bearer token to report with, instead of a client certificate")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "server certificate `file`: serve TLS")
	fs.StringVar(&o.tlsKey, "tls-key", "", "server key `file`")
	fs.StringVar(&o.clientCA, "client-ca", "", "CA `file` the callers' client certificates must verify against: serve mutual TLS")
	logLevel := fs.String("log-level", "info", "debug (every call), info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	var err error
	if o.sim.Mode, err = sim.ParseMode(*decision); err != nil {
		return nil, usageError{err}
	}
	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("-log-level %q: want debug, info, warn or error", *logLevel)}
	}
	switch {
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return nil, usageError{errors.New("-tls-cert and -tls-key go together")}
	case o.clientCA != "" && o.tlsCert == "":
		return nil, usageError{errors.New("-client-ca needs -tls-cert and -tls-key")}
	case o.tlsCert == "" && !department.Loopback(o.listen):
		return nil, usageError{fmt.Errorf("refusing to serve plaintext on %q: give -tls-cert and -tls-key, or a loopback address", o.listen)}
	case (o.reportCert == "") != (o.reportKey == ""):
		return nil, usageError{errors.New("-report-cert and -report-key go together")}
	case o.reportCert != "" && o.reportTokenFile != "":
		return nil, usageError{errors.New("report with a client certificate or a token, not both")}
	case o.reportTo == "" && (o.reportCA != "" || o.reportCert != "" || o.reportTokenFile != ""):
		return nil, usageError{errors.New("the -report-* flags need -report-to")}
	case o.reportTo != "" && o.reportCA == "" && o.reportCert == "" && !department.Loopback(o.reportTo):
		return nil, usageError{fmt.Errorf("refusing to report in plaintext to %q: give -report-ca, or a loopback address", o.reportTo)}
	}
	if o.sim.Seed == 0 {
		o.sim.Seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

// run is devdepartment with its arguments (without the program name),
// serving until ctx ends: the listening address goes to stdout, logs and
// usage to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	o.sim.Logger = log
	if o.reportTo != "" {
		conn, err := reportConn(o)
		if err != nil {
			return err
		}
		defer conn.Close()
		o.sim.Reporter = departmentv1.NewStatusReportServiceClient(conn)
	}
	s, err := sim.New(o.sim)
	if err != nil {
		return usageError{err}
	}
	defer s.Close()

	transport := "plaintext, loopback only"
	var srvOpts []grpc.ServerOption
	if o.tlsCert != "" {
		tc, err := pki.ServerConfig(o.tlsCert, o.tlsKey, o.clientCA)
		if err != nil {
			return err
		}
		srvOpts = append(srvOpts, grpc.Creds(credentials.NewTLS(tc)))
		transport = "TLS"
		if o.clientCA != "" {
			transport = "mutual TLS"
		}
	}
	srv := grpc.NewServer(srvOpts...)
	s.Register(srv)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "devdepartment: department %s, %s\n", o.sim.Department, describe(o))
	fmt.Fprintf(stdout, "devdepartment: serving gRPC on %s (%s)\n", lis.Addr(), transport)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "devdepartment: stopping")
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(drainTimeout):
		srv.Stop()
	}
	return <-served
}

// describe sums up the simulated behaviour in one line.
func describe(o *options) string {
	c := o.sim
	parts := []string{"decision " + string(c.Mode)}
	if c.Mode == sim.ModeAccept || c.Mode == sim.ModeMixed {
		to := "not reported"
		if o.reportTo != "" {
			to = "reported to " + o.reportTo
		}
		parts = append(parts, fmt.Sprintf("accepted requests complete after %v, %s", c.ReportAfter, to))
	}
	parts = append(parts, fmt.Sprintf("latency %v±%v", c.Latency, c.Jitter),
		fmt.Sprintf("failure rate %g", c.FailureRate), fmt.Sprintf("seed %d", c.Seed))
	for _, out := range c.Down.Outages {
		parts = append(parts, fmt.Sprintf("down %v after start for %v", out.Start, out.Length))
	}
	if p := c.Down.Periodic; p.Every > 0 {
		parts = append(parts, fmt.Sprintf("down for %v every %v", p.For, p.Every))
	}
	return strings.Join(parts, ", ")
}

// reportConn returns the client connection to the node's
// StatusReportService.
func reportConn(o *options) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	secure := o.reportCA != "" || o.reportCert != ""
	if secure {
		tc, err := pki.ClientConfig(o.reportCA, o.reportCert, o.reportKey)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if o.reportTokenFile != "" {
		b, err := os.ReadFile(o.reportTokenFile)
		if err != nil {
			return nil, err
		}
		token := strings.TrimSpace(string(b))
		if token == "" {
			return nil, fmt.Errorf("%s holds no token", o.reportTokenFile)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: token, secure: secure}))
	}
	return grpc.NewClient(o.reportTo, opts...)
}

// bearer sends a bearer token with every report; secure is false only for
// plaintext to a loopback node.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }
