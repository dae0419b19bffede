package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/synth"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// The scale mode (--scale): a node holding many permits, measured against
// the same node holding few (issue 7: GetPermit and VerifyPermit p99
// within 2x of the node at 10,000 permits, start-up under 5 s, Go heap in
// use under 300 MB, the file size reported).

// Fixed parts of the scale mode.
const (
	scaleAccount    = "devbench-scale" // clerk and supervisor: issues, reads, imports
	scaleBatch      = 1000             // rows per ImportPermitsRequest, the most allowed
	scaleStreams    = 2                // import streams at once
	scaleSample     = 10_000           // permit ids kept to read, spread over the whole file
	scaleCreds      = 2_000            // credentials fetched to verify
	scaleStartLimit = 10 * time.Minute // for a large file's start-up
	scaleGoalStart  = 5 * time.Second
	scaleGoalHeap   = 300 << 20
	scaleGoalP99    = 2.0
)

// scaleMeasurements are the calls measured at each size, in order.
var scaleMeasurements = []string{mVerifyCred, mVerifyID, mGetPermit}

// scaleResult is what was measured on the node holding Permits permits.
type scaleResult struct {
	Permits   int
	Folder    string
	Prepared  time.Duration // how long preparing took this run; zero when cached
	FileBytes int64         // the bbolt file after the measurements
	// ToServing is from the process start until the gRPC health check
	// answers SERVING; ToIssue until its first IssuePermit succeeded.
	ToServing, ToIssue time.Duration
	// HeapStart and HeapAfter are go_memstats_heap_inuse_bytes read from
	// the node's /metrics after start and after the measurements; RSS the
	// resident set (VmRSS, the mapped file's pages included) then.
	HeapStart, HeapAfter  int64
	RSSStart, RSSAfter    int64
	HeapProfile           string // the node's heap profile after the measurements
	Results               []result
	LoadBefore, LoadAfter string
}

// scaleSizes are the sizes measured: the base first.
func (o *options) scaleSizes() []int {
	sizes := append([]int{o.scaleBase}, o.scale...)
	slices.Sort(sizes)
	return slices.Compact(sizes)
}

// runScale prepares (or finds in the cache) a node data folder for each
// size and measures a permitd started on it.
func runScale(ctx context.Context, o *options, bins binaries, log io.Writer) ([]scaleResult, error) {
	cache := o.scaleCache
	if cache == "" {
		dir, err := os.MkdirTemp("", "devbench-scale-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cache = dir
	} else if err := os.MkdirAll(cache, 0o700); err != nil {
		return nil, err
	}
	// The folders are passed to processes that run in folders of their
	// own: a relative path would name another place there.
	cache, err := filepath.Abs(cache)
	if err != nil {
		return nil, err
	}
	gen, err := synth.New(synth.Options{Seed: o.seed, Division: division})
	if err != nil {
		return nil, err
	}
	var out []scaleResult
	for _, n := range o.scaleSizes() {
		folder := filepath.Join(cache, fmt.Sprintf("permits-%d-seed-%d", n, o.seed))
		var prepared time.Duration
		if _, err := os.Stat(filepath.Join(folder, "sample.txt")); err != nil {
			fmt.Fprintf(log, "devbench: scale: preparing %d permits in %s\n", n, folder)
			t0 := time.Now()
			if err := prepareScale(ctx, bins, gen, folder, n, log); err != nil {
				return out, fmt.Errorf("preparing %d permits: %w", n, err)
			}
			prepared = time.Since(t0)
		} else {
			fmt.Fprintf(log, "devbench: scale: %d permits cached in %s\n", n, folder)
		}
		r, err := measureScale(ctx, o, bins, gen, folder, n, log)
		r.Prepared = prepared
		out = append(out, r)
		if err != nil {
			return out, fmt.Errorf("%d permits: %w", n, err)
		}
	}
	return out, nil
}

// scaleConfig writes the permitd configuration of the scale mode into
// folder: no rate limit (the callers stand for many clerks), and the
// metrics and profiler on metricsAddr when it is not empty.
func scaleConfig(folder, metricsAddr string) (string, error) {
	yaml := "limits: {mutations_per_second: 0, citizen_mutations_per_minute: 0}\n"
	if metricsAddr != "" {
		yaml += fmt.Sprintf("metrics: {listen: %q, pprof: true}\n", metricsAddr)
	}
	path := filepath.Join(folder, "permitd.yaml")
	return path, os.WriteFile(path, []byte(yaml), 0o600)
}

// prepareScale makes folder a node data folder holding the permits of
// residents 0 to n-1: a permitd started on an empty folder imports them
// through its ImportService, as permitctl import would, with durable
// commits. The folder is written as folder.partial and renamed when
// complete, so an interrupted run leaves no folder that looks prepared.
func prepareScale(ctx context.Context, bins binaries, gen *synth.Generator, folder string, n int, log io.Writer) (err error) {
	partial := folder + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return err
	}
	data := filepath.Join(partial, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	cfg, err := scaleConfig(partial, "")
	if err != nil {
		return err
	}
	p, addr, err := startServer(ctx, "permitd-prepare", partial, bins.permitd,
		"--listen", "127.0.0.1:0", "--data", data, "--config", cfg, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer func() {
		if !p.stop() && err == nil {
			err = fmt.Errorf("permitd did not stop on SIGTERM within %v", stopTimeout)
		}
		if err == nil {
			err = os.Rename(partial, folder)
		}
	}()
	token, err := accountToken(ctx, addr, filepath.Join(data, "admin.token"), scaleAccount,
		epermitv1.Role_ROLE_CLERK, epermitv1.Role_ROLE_SUPERVISOR)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(partial, "clerk.token"), []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	c, err := client.Dial(addr, client.Options{Insecure: true, Token: token, Timeout: callTimeout})
	if err != nil {
		return err
	}
	defer c.Close()
	stride := max(1, n/scaleSample)
	sample := make([]string, (n+stride-1)/stride)
	var (
		nextBatch atomic.Int64
		imported  atomic.Int64
		wg        sync.WaitGroup
		errOnce   sync.Once
		firstErr  error
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := int64((n + scaleBatch - 1) / scaleBatch)
	for range scaleStreams {
		wg.Go(func() {
			stream, err := c.Imports.ImportPermits(ictx)
			if err != nil {
				fail(err)
				return
			}
			go func() { // the sender; gRPC flow control bounds what it sends ahead
				for b := nextBatch.Add(1) - 1; b < batches && ictx.Err() == nil; b = nextBatch.Add(1) - 1 {
					req := &epermitv1.ImportPermitsRequest{}
					for i := b * scaleBatch; i < min(int64(n), (b+1)*scaleBatch); i++ {
						r := gen.Resident(uint64(i))
						req.Rows = append(req.Rows, &epermitv1.ImportRow{RequestId: fmt.Sprintf("devbench-scale-%d", i), Row: i + 1,
							Holder:           &epermitv1.Holder{Name: r.Name, CitizenId: r.CitizenID, Ethnicity: r.Ethnicity, HukouAddress: r.HukouAddress},
							ResidenceAddress: r.ResidenceAddress, ResidenceStartDate: r.ResidenceStart.Format(time.DateOnly)})
					}
					if err := stream.Send(req); err != nil {
						return // Recv reports it
					}
				}
				stream.CloseSend()
			}()
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return
				}
				if err != nil {
					fail(err)
					cancel()
					return
				}
				for _, res := range resp.Results {
					if res.Outcome != epermitv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED {
						fail(fmt.Errorf("row %d: %v %s %s", res.Row, res.Outcome, res.Reason, res.Message))
						cancel()
						return
					}
					if i := int(res.Row - 1); i%stride == 0 {
						sample[i/stride] = res.PermitId
					}
				}
				imported.Add(int64(len(resp.Results)))
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t0 := time.Now()
	for tick := time.NewTicker(10 * time.Second); ; {
		select {
		case <-tick.C:
			k := imported.Load()
			fmt.Fprintf(log, "devbench: scale: imported %d of %d (%s/s)\n", k, n, thousands(float64(k)/time.Since(t0).Seconds()))
			continue
		case <-done:
			tick.Stop()
		}
		break
	}
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if k := imported.Load(); k != int64(n) {
		return fmt.Errorf("imported %d rows of %d", k, n)
	}
	fmt.Fprintf(log, "devbench: scale: imported %d permits in %.1f s (%s/s)\n", n, time.Since(t0).Seconds(),
		thousands(float64(n)/time.Since(t0).Seconds()))
	return os.WriteFile(filepath.Join(partial, "sample.txt"), []byte(strings.Join(sample, "\n")+"\n"), 0o600)
}

// measureScale starts permitd on the prepared folder and measures its
// start-up, heap and reads. Every run issues one permit (the start-up
// measure) and appends audit entries (GetPermit), so the folder grows a
// little with each run.
func measureScale(ctx context.Context, o *options, bins binaries, gen *synth.Generator, folder string, n int,
	log io.Writer) (sr scaleResult, err error) {
	sr.Permits, sr.Folder, sr.LoadBefore = n, folder, loadAverage()
	b, err := os.ReadFile(filepath.Join(folder, "sample.txt"))
	if err != nil {
		return sr, err
	}
	sample := strings.Fields(string(b))
	b, err = os.ReadFile(filepath.Join(folder, "clerk.token"))
	if err != nil {
		return sr, err
	}
	token := strings.TrimSpace(string(b))
	grpcAddr, err := freeAddr()
	if err != nil {
		return sr, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return sr, err
	}
	cfg, err := scaleConfig(folder, metricsAddr)
	if err != nil {
		return sr, err
	}
	data := filepath.Join(folder, "data")
	fmt.Fprintf(log, "devbench: scale: starting permitd on %d permits\n", n)

	// Start-up: from the process start until the health check answers
	// SERVING, polled every few milliseconds on the address given.
	// (A short reconnect backoff: gRPC's default waits a second after the
	// first refused connection.)
	hconn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: time.Second,
			Backoff: backoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1, MaxDelay: 5 * time.Millisecond}}))
	if err != nil {
		return sr, err
	}
	defer hconn.Close()
	health := healthpb.NewHealthClient(hconn)
	t0 := time.Now()
	p, stdout, err := startProc("permitd-scale", folder, bins.permitd,
		"--listen", grpcAddr, "--data", data, "--config", cfg, "--log-level", "warn")
	if err != nil {
		return sr, err
	}
	go io.Copy(io.Discard, stdout) // it goes to the log file too
	defer func() {
		if !p.stop() && err == nil {
			err = fmt.Errorf("permitd did not stop on SIGTERM within %v", stopTimeout)
		}
		if st, serr := os.Stat(filepath.Join(data, "permits.db")); serr == nil {
			sr.FileBytes = st.Size()
		} else if err == nil {
			err = serr
		}
	}()
	for {
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		resp, err := health.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.Status == healthpb.HealthCheckResponse_SERVING {
			sr.ToServing = time.Since(t0)
			break
		}
		select {
		case <-p.exited:
			return sr, fmt.Errorf("permitd exited while starting: %s", p.tail())
		case <-ctx.Done():
			return sr, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(t0) > scaleStartLimit {
			return sr, fmt.Errorf("permitd did not answer SERVING within %v: %s", scaleStartLimit, p.tail())
		}
	}
	var conns []*client.Client
	for range connsPerReplica {
		c, err := client.Dial(grpcAddr, client.Options{Insecure: true, Token: token, Timeout: callTimeout})
		if err != nil {
			return sr, err
		}
		defer c.Close()
		conns = append(conns, c)
	}
	conn := func(w int) *client.Client { return conns[w%len(conns)] }
	// Until the node can issue: a new resident, drawn at random beyond the
	// prepared ones so that reruns on the cached folder draw others.
	for {
		i := uint64(n) + rand.Uint64N(gen.Capacity()-uint64(n))
		_, err := conn(0).Permits.IssuePermit(ctx, gen.Resident(i).IssueRequest(client.NewRequestID()))
		if err == nil {
			sr.ToIssue = time.Since(t0)
			break
		}
		if time.Since(t0) > scaleStartLimit || ctx.Err() != nil {
			return sr, fmt.Errorf("the node could not issue: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintf(log, "devbench: scale: %d permits: SERVING after %.2f s, issued after %.2f s\n", n,
		sr.ToServing.Seconds(), sr.ToIssue.Seconds())
	if sr.HeapStart, err = heapInUse(ctx, metricsAddr); err != nil {
		return sr, err
	}
	sr.RSSStart = rss(p)

	// The credentials to verify, fetched through GetPermit.
	creds := make([]string, min(len(sample), scaleCreds))
	err = each(ctx, len(creds), o.callers, func(w, i int) error {
		// Spread over the sample, so over the whole file.
		resp, err := conn(w).Permits.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: sample[i*len(sample)/len(creds)]})
		creds[i] = resp.GetCredential().GetText()
		return err
	})
	if err != nil {
		return sr, fmt.Errorf("fetching credentials: %w", err)
	}
	// Warm-up: every sampled permit read once (VerifyPermit by id, which
	// writes nothing), so that the measurements see the node as one that
	// has served for a while does, its pages mapped; the cold reads right
	// after a start are a start-up matter.
	err = each(ctx, len(sample), o.callers, func(w, i int) error {
		return valid(conn(w).Permits.VerifyPermit(ctx, &epermitv1.VerifyPermitRequest{
			Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: sample[i]}}))
	})
	if err != nil {
		return sr, fmt.Errorf("warming up: %w", err)
	}
	calls := map[string]func(ctx context.Context, w, i int) error{
		mVerifyCred: func(ctx context.Context, w, i int) error {
			return valid(conn(w).Permits.VerifyPermit(ctx, &epermitv1.VerifyPermitRequest{
				Subject: &epermitv1.VerifyPermitRequest_CredentialText{CredentialText: creds[i%len(creds)]}}))
		},
		mVerifyID: func(ctx context.Context, w, i int) error {
			return valid(conn(w).Permits.VerifyPermit(ctx, &epermitv1.VerifyPermitRequest{
				Subject: &epermitv1.VerifyPermitRequest_PermitId{PermitId: sample[i%len(sample)]}}))
		},
		mGetPermit: func(ctx context.Context, w, i int) error {
			_, err := conn(w).Permits.GetPermit(ctx, &epermitv1.GetPermitRequest{PermitId: sample[i%len(sample)]})
			return err
		},
	}
	for _, name := range scaleMeasurements {
		if ctx.Err() != nil {
			return sr, ctx.Err()
		}
		fmt.Fprintf(log, "devbench: scale: %d permits: %s for %v at %d callers\n", n, name, o.duration, o.callers)
		sr.Results = append(sr.Results, measure(ctx, name, o.duration, o.callers, []*proc{p}, nil, calls[name]))
	}
	sr.LoadAfter = loadAverage()
	if sr.HeapAfter, err = heapInUse(ctx, metricsAddr); err != nil {
		return sr, err
	}
	sr.RSSAfter = rss(p)
	sr.HeapProfile = filepath.Join(folder, "heap.pb.gz")
	if err := fetch(ctx, "http://"+metricsAddr+"/debug/pprof/heap", sr.HeapProfile); err != nil {
		return sr, err
	}
	return sr, nil
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// heapInUse reads go_memstats_heap_inuse_bytes from the node's /metrics.
func heapInUse(ctx context.Context, addr string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("the node's /metrics has no go_memstats_heap_inuse_bytes")
}

// fetch saves what url answers to path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// rss is the process's VmRSS in bytes, or -1 when it cannot be read.
func rss(p *proc) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil && len(f) == 2 && f[1] == "kB" {
				return kb << 10
			}
		}
	}
	return -1
}
