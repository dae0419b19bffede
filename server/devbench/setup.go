package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/synth"

	departmentv1 "github.com/yrd-epermit/epermit/proto/epermit/department/v1"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Names of the measurements, in the order they are made and printed.
const (
	mHealth       = "Health/Check (the ceiling)"
	mVerifyCred   = "VerifyPermit by credential"
	mVerifyID     = "VerifyPermit by id"
	mGetPermit    = "GetPermit"
	mIssuePermit  = "IssuePermit (durable)"
	mServiceRoute = "SubmitServiceRequest (fast department)"
)

// measurements lists the names in that order.
var measurements = []string{mHealth, mVerifyCred, mVerifyID, mGetPermit, mIssuePermit, mServiceRoute}

// Fixed parts of every setup.
const (
	division        = "330604"                  // the nodes' division, permitd's default
	department      = "hrss"                    // the simulated department
	service         = "employment_registration" // a service of that department: the permit active, the holder 16-59
	connsPerReplica = 4                         // client connections per permitd, as a few clerk machines or a balancer would open
	callTimeout     = 30 * time.Second
	deliveryTimeout = 2 * time.Minute // for the outbox to deliver every request submitted
)

// setup is one arrangement of the processes measured.
type setup struct {
	Name string
	// Redis starts a redis-server for the store; Store names one instead
	// (both empty: the bbolt file of the single permitd).
	Redis    bool
	Store    string
	Replicas int
}

// setupResult is what was measured in one setup.
type setupResult struct {
	Setup   setup
	Results []result
	// Delivered is how many of the service requests submitted reached the
	// department, and DeliveredIn how long after the first submission the
	// last of them arrived.
	Delivered   int64
	DeliveredIn time.Duration
	// LoadBefore and LoadAfter are the machine's load averages (1, 5 and
	// 15 minutes) before starting and after measuring: on a shared
	// machine, what else was running.
	LoadBefore, LoadAfter string
}

// binaries are the programs the harness built.
type binaries struct {
	permitd, devdepartment string
}

// replica is one running permitd and the connections to it.
type replica struct {
	proc    *proc
	addr    string
	clients []*client.Client   // as the clerk
	health  []*grpc.ClientConn // without credentials
}

// runSetup starts the processes of s, seeds the permits and makes every
// measurement; progress goes to log. Everything it started is stopped, and
// its temporary folder removed, before it returns.
func runSetup(ctx context.Context, o *options, bins binaries, s setup, log io.Writer) (sr setupResult, err error) {
	sr.Setup, sr.LoadBefore = s, loadAverage()
	dir, err := os.MkdirTemp("", "devbench-")
	if err != nil {
		return sr, err
	}
	var started []*proc
	defer func() {
		for i := len(started) - 1; i >= 0; i-- { // permitd first, the store last
			if !started[i].stop() && err == nil {
				err = fmt.Errorf("%s did not stop on SIGTERM within %v", started[i].name, stopTimeout)
			}
		}
		os.RemoveAll(dir)
	}()
	var others, servers []*proc
	storeURL := s.Store
	if s.Redis {
		p, url, err := startRedis(ctx, dir)
		if err != nil {
			return sr, err
		}
		started, others, storeURL = append(started, p), append(others, p), url
	}
	dept, deptAddr, err := startServer(ctx, "devdepartment", dir, bins.devdepartment,
		"-listen", "127.0.0.1:0", "-department", department, "-decision", "complete", "-log-level", "warn")
	if err != nil {
		return sr, err
	}
	started, others = append(started, dept), append(others, dept)

	// The callers stand for many clerks: no per-account rate limit.
	cfg := filepath.Join(dir, "permitd.yaml")
	yaml := fmt.Sprintf("limits: {mutations_per_second: 0, citizen_mutations_per_minute: 0}\ndepartments: {%s: {endpoint: %q}}\n", department, deptAddr)
	var profileAddr string // the first permitd's profiler, with --profile
	if o.profile != "" {
		if profileAddr, err = freeAddr(); err != nil {
			return sr, err
		}
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return sr, err
	}
	var replicas []*replica
	for r := range s.Replicas {
		data := filepath.Join(dir, fmt.Sprintf("permitd-%d", r))
		if err := os.Mkdir(data, 0o700); err != nil {
			return sr, err
		}
		if r > 0 { // every replica signs with the first one's issuer key
			key, err := os.ReadFile(filepath.Join(dir, "permitd-0", "issuer.key"))
			if err != nil {
				return sr, err
			}
			if err := os.WriteFile(filepath.Join(data, "issuer.key"), key, 0o600); err != nil {
				return sr, err
			}
		}
		config := cfg
		if r == 0 && profileAddr != "" { // its own configuration, with the profiler
			config = filepath.Join(dir, "permitd-0.yaml")
			if err := os.WriteFile(config, []byte(yaml+fmt.Sprintf("metrics: {listen: %q, pprof: true}\n", profileAddr)), 0o600); err != nil {
				return sr, err
			}
		}
		args := []string{"--listen", "127.0.0.1:0", "--data", data, "--config", config, "--log-level", "warn"}
		if storeURL != "" {
			args = append(args, "--store", storeURL)
		}
		p, addr, err := startServer(ctx, fmt.Sprintf("permitd-%d", r), dir, bins.permitd, args...)
		if err != nil {
			return sr, err
		}
		started, servers = append(started, p), append(servers, p)
		replicas = append(replicas, &replica{proc: p, addr: addr})
	}
	fmt.Fprintf(log, "devbench: %s: %d permitd on %s, department %s on %s\n", s.Name, len(replicas),
		addrs(replicas), department, deptAddr)

	token, err := clerkToken(ctx, replicas[0].addr, filepath.Join(dir, "permitd-0", "admin.token"))
	if err != nil {
		return sr, err
	}
	for _, rep := range replicas {
		defer rep.close()
		if err := rep.dial(token); err != nil {
			return sr, err
		}
	}
	// Callers are spread over the replicas and their connections.
	var conns []*client.Client
	var healths []healthpb.HealthClient
	for c := range connsPerReplica {
		for _, rep := range replicas {
			conns = append(conns, rep.clients[c])
			healths = append(healths, healthpb.NewHealthClient(rep.health[c]))
		}
	}
	conn := func(w int) *client.Client { return conns[w%len(conns)] }

	gen, err := synth.New(synth.Options{Seed: o.seed, Division: division})
	if err != nil {
		return sr, err
	}
	fmt.Fprintf(log, "devbench: %s: seeding %d permits\n", s.Name, o.permits)
	seeded, err := seed(ctx, gen, o.permits, o.callers, conn)
	if err != nil {
		return sr, err
	}

	var issued atomic.Int64 // residents past the seeded ones
	calls := []struct {
		name string
		call func(ctx context.Context, w, i int) error
	}{
		{mHealth, func(ctx context.Context, w, _ int) error {
			ctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			_, err := healths[w%len(healths)].Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}},
		{mVerifyCred, func(ctx context.Context, w, i int) error {
			return valid(conn(w).Permits.VerifyPermit(ctx, &epermitv1.VerifyPermitRequest{
				Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: seeded[i%len(seeded)].Credential.Text}}))
		}},
		{mVerifyID, func(ctx context.Context, w, i int) error {
			return valid(conn(w).Permits.VerifyPermit(ctx, &epermitv1.VerifyPermitRequest{
				Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: seeded[i%len(seeded)].Permit.Id}}))
		}},
		{mGetPermit, func(ctx context.Context, w, i int) error {
			_, err := conn(w).Permits.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: seeded[i%len(seeded)].Permit.Id})
			return err
		}},
		{mIssuePermit, func(ctx context.Context, w, _ int) error {
			r := gen.Resident(uint64(o.permits) + uint64(issued.Add(1)-1))
			_, err := conn(w).Permits.IssuePermit(ctx, r.IssueRequest(client.NewRequestID()))
			return err
		}},
		{mServiceRoute, func(ctx context.Context, w, i int) error {
			_, err := conn(w).Scenarios.SubmitServiceRequest(ctx, &epermitv1.SubmitServiceRequestRequest{
				RequestId: client.NewRequestID(), Service: service, Fields: map[string]string{"employer": "测试科技有限公司"},
				Permit: &epermitv1.ServicePermit{Subject: &epermitv1.ServicePermit_PermitId{PermitId: seeded[i%len(seeded)].Permit.Id}}})
			return err
		}},
	}
	for _, c := range calls {
		if ctx.Err() != nil {
			return sr, ctx.Err()
		}
		if !o.measures(c.name) {
			continue
		}
		fmt.Fprintf(log, "devbench: %s: %s for %v at %d callers\n", s.Name, c.name, o.duration, o.callers)
		started := time.Now()
		profiled := profileDuring(ctx, o, profileAddr, s.Name+"-"+c.name)
		r := measure(ctx, c.name, o.duration, o.callers, servers, others, c.call)
		if err := <-profiled; err != nil {
			return sr, fmt.Errorf("profiling %s: %w", c.name, err)
		}
		sr.Results = append(sr.Results, r)
		sr.LoadAfter = loadAverage()
		if c.name == mServiceRoute {
			sr.Delivered, err = waitDelivered(ctx, deptAddr, int64(r.Calls))
			sr.DeliveredIn = time.Since(started)
			if err != nil {
				return sr, err
			}
		}
	}
	return sr, ctx.Err()
}

// addrs lists the replicas' addresses.
func addrs(rs []*replica) string {
	var l []string
	for _, r := range rs {
		l = append(l, r.addr)
	}
	return strings.Join(l, ", ")
}

// clerkToken creates a clerk account with the bootstrap admin's token and
// returns the clerk's token.
func clerkToken(ctx context.Context, addr, adminTokenFile string) (string, error) {
	return accountToken(ctx, addr, adminTokenFile, "devbench-clerk", epermitv1.Role_ROLE_CLERK)
}

// accountToken creates the account name with roles, with the bootstrap
// admin's token, and returns the account's token.
func accountToken(ctx context.Context, addr, adminTokenFile, name string, roles ...epermitv1.Role) (string, error) {
	b, err := os.ReadFile(adminTokenFile)
	if err != nil {
		return "", fmt.Errorf("the first permitd made no admin account (is the store empty?): %w", err)
	}
	admin, err := client.Dial(addr, client.Options{Insecure: true, Token: strings.TrimSpace(string(b)), Timeout: callTimeout})
	if err != nil {
		return "", err
	}
	defer admin.Close()
	resp, err := admin.Accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{
		Name: name, Division: division, Roles: roles})
	if err != nil {
		return "", fmt.Errorf("creating the account %s: %w", name, err)
	}
	return resp.Token, nil
}

// dial opens the replica's connections: as the clerk, and without
// credentials for the health checks.
func (r *replica) dial(token string) error {
	for range connsPerReplica {
		c, err := client.Dial(r.addr, client.Options{Insecure: true, Token: token, Timeout: callTimeout})
		if err != nil {
			return err
		}
		r.clients = append(r.clients, c)
		h, err := grpc.NewClient(r.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		r.health = append(r.health, h)
	}
	return nil
}

// close closes the replica's connections.
func (r *replica) close() {
	for _, c := range r.clients {
		c.Close()
	}
	for _, h := range r.health {
		h.Close()
	}
}

// seed issues the first n residents' permits through the API from callers
// goroutines and returns the answers, in resident order.
func seed(ctx context.Context, gen *synth.Generator, n, callers int, conn func(w int) *client.Client) ([]*epermitv1.IssuePermitResponse, error) {
	out := make([]*epermitv1.IssuePermitResponse, n)
	err := each(ctx, n, callers, func(w, i int) error {
		resp, err := conn(w).Permits.IssuePermit(ctx, gen.Resident(uint64(i)).IssueRequest(client.NewRequestID()))
		if err != nil {
			return fmt.Errorf("seeding permit %d: %w", i, err)
		}
		out[i] = resp
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// each runs fn(w, i) for every i below n from up to callers goroutines,
// w numbering the goroutine, and returns the first error, or ctx's when
// it ended first. Once one call fails, no goroutine starts another.
func each(ctx context.Context, n, callers int, fn func(w, i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	for w := range min(callers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil && first.Load() == nil; i = int(next.Add(1) - 1) {
				if err := fn(w, i); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		return *err
	}
	return ctx.Err()
}

// valid turns a verdict other than VALID into an error.
func valid(resp *epermitv1.VerifyPermitResponse, err error) error {
	if err == nil && resp.Verdict != epermitv1.Verdict_VERDICT_VALID {
		err = fmt.Errorf("verdict %v: %v", resp.Verdict, resp.Findings)
	}
	return err
}

// waitDelivered waits until the department simulator has received want
// distinct requests, or deliveryTimeout has passed, and returns how many
// it received.
func waitDelivered(ctx context.Context, addr string, want int64) (int64, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	sim := departmentv1.NewSimulatorServiceClient(conn)
	for deadline := time.Now().Add(deliveryTimeout); ; time.Sleep(250 * time.Millisecond) {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		// The answer lists every request id: allow it to be large.
		st, err := sim.GetStats(cctx, &departmentv1.GetStatsRequest{}, grpc.MaxCallRecvMsgSize(1<<30))
		cancel()
		switch {
		case err != nil:
			return 0, fmt.Errorf("department stats: %w", err)
		case st.Distinct >= want:
			return st.Distinct, nil
		case time.Now().After(deadline):
			return st.Distinct, fmt.Errorf("the department received %d of %d service requests within %v", st.Distinct, want, deliveryTimeout)
		case ctx.Err() != nil:
			return st.Distinct, ctx.Err()
		}
	}
}

// profileDuring fetches a CPU profile of the permitd whose profiler is on
// addr into o.profile/name.pprof, over the measurement that starts now
// less its last second; the channel receives the outcome. Without
// --profile it does nothing.
func profileDuring(ctx context.Context, o *options, addr, name string) <-chan error {
	done := make(chan error, 1)
	if o.profile == "" {
		done <- nil
		return done
	}
	seconds := max(1, int(o.duration/time.Second)-1)
	go func() {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			done <- err
			return
		}
		done <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds),
			filepath.Join(o.profile, fileName(name)+".pprof"))
	}()
	return done
}

// fileName turns name into a file name: its runs of other characters than
// letters and digits become one "-".
func fileName(name string) string {
	return strings.Trim(strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), "-"), "-")
}
