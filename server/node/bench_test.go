package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/store/redis/redistest"
	"github.com/yrd-epermit/epermit/synth"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// callers is the number of concurrent clients in the node benchmarks.
const callers = 50

// BenchmarkNode measures a real node over loopback gRPC at 50 concurrent
// callers, side by side in one run: the health check (the gRPC ceiling),
// VerifyPermit by id and by credential, GetPermit, and IssuePermit with
// durable (fsync'd) bbolt commits. Each reports calls/s, p50 and p99.
func BenchmarkNode(b *testing.B) {
	benchmarkNode(b, "")
}

// BenchmarkNodeRedis is BenchmarkNode with the store on a redis-server
// that the benchmark starts (appendfsync always).
func BenchmarkNodeRedis(b *testing.B) {
	srv := redistest.Start(b)
	benchmarkNode(b, srv.URL())
	// Where the server's time went: calls and time per call by command.
	o, _ := goredis.ParseURL(srv.URL())
	c := goredis.NewClient(o)
	defer c.Close()
	if info, err := c.Info(context.Background(), "commandstats").Result(); err == nil {
		for line := range strings.SplitSeq(info, "\n") {
			if strings.HasPrefix(line, "cmdstat_") {
				b.Log(strings.TrimSpace(line))
			}
		}
	}
}

// benchmarkNode runs the node benchmarks on the store that storeURL names
// ("" for the bbolt file in the data folder).
func benchmarkNode(b *testing.B, storeURL string) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = b.TempDir()
	cfg.Store = storeURL
	cfg.Limits = LimitsConfig{} // the callers stand for many clerks: no per-account limit
	n, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	go n.Serve()
	defer n.Shutdown(context.Background())
	token := benchClerk(b, n)

	// A few connections, as a load balancer or several clerk machines would.
	var conns []*grpc.ClientConn
	for range 4 {
		c, err := grpc.NewClient(n.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(bearer(token)))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	permits := func(i int) epermitv1.PermitServiceClient {
		return epermitv1.NewPermitServiceClient(conns[i%len(conns)])
	}
	health := func(i int) healthpb.HealthClient { return healthpb.NewHealthClient(conns[i%len(conns)]) }

	residents, err := synth.New(synth.Options{Seed: 2026, Division: cfg.Division})
	if err != nil {
		b.Fatal(err)
	}
	var next uint64
	issueReq := func() *epermitv1.IssuePermitRequest {
		next++
		return residents.Resident(next).IssueRequest(client.NewRequestID())
	}
	// Permits to read and verify.
	var seeded []*epermitv1.IssuePermitResponse
	for i := range 1000 {
		resp, err := permits(i).IssuePermit(context.Background(), issueReq())
		if err != nil {
			b.Fatal(err)
		}
		seeded = append(seeded, resp)
	}
	ctx := context.Background()

	b.Run("HealthCheck", func(b *testing.B) {
		atConcurrency(b, func(i int) error {
			_, err := health(i).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		})
	})
	b.Run("VerifyByID", func(b *testing.B) {
		atConcurrency(b, func(i int) error {
			resp, err := permits(i).VerifyPermit(ctx, &epermitv1.VerifyPermitRequest{
				Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: seeded[i%len(seeded)].Permit.Id}})
			return verdict(resp, err)
		})
	})
	b.Run("VerifyByCredential", func(b *testing.B) {
		atConcurrency(b, func(i int) error {
			resp, err := permits(i).VerifyPermit(ctx, &epermitv1.VerifyPermitRequest{
				Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: seeded[i%len(seeded)].Credential.Text}})
			return verdict(resp, err)
		})
	})
	b.Run("GetPermit", func(b *testing.B) {
		atConcurrency(b, func(i int) error {
			_, err := permits(i).GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: seeded[i%len(seeded)].Permit.Id})
			return err
		})
	})
	b.Run("IssuePermit", func(b *testing.B) {
		reqs := make([]*epermitv1.IssuePermitRequest, b.N)
		for i := range reqs {
			reqs[i] = issueReq()
		}
		atConcurrency(b, func(i int) error {
			_, err := permits(i).IssuePermit(ctx, reqs[i])
			return err
		})
	})
}

// benchClerk creates a clerk account with the bootstrap admin's token and
// returns the clerk's token.
func benchClerk(b *testing.B, n *Node) string {
	b.Helper()
	admin, err := os.ReadFile(n.BootstrapTokenFile())
	if err != nil {
		b.Fatal(err)
	}
	conn, err := grpc.NewClient(n.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(strings.TrimSpace(string(admin)))))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	resp, err := epermitv1.NewAccountServiceClient(conn).CreateAccount(context.Background(), &epermitv1.CreateAccountRequest{
		Name: "bench-clerk", Division: n.cfg.Division, Roles: []epermitv1.Role{epermitv1.Role_ROLE_CLERK}})
	if err != nil {
		b.Fatal(err)
	}
	return resp.Token
}

func verdict(resp *epermitv1.VerifyPermitResponse, err error) error {
	if err == nil && resp.Verdict != epermitv1.Verdict_VERDICT_VALID {
		err = fmt.Errorf("verdict %v: %v", resp.Verdict, resp.Findings)
	}
	return err
}

// atConcurrency makes b.N calls from 50 goroutines and reports calls/s,
// the p50 and p99 latency in microseconds, and the process's CPU time per
// call (callers and node together, as they share the machine's cores): on
// a busy machine the CPU per call says more than calls/s.
func atConcurrency(b *testing.B, call func(i int) error) {
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpuStart := time.Now(), cpuTime(b)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := call(i); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime(b)-cpuStart
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/call")
	b.ReportMetric(float64(lat[b.N/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[b.N*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
