// Command devbench is the benchmark harness: it builds and starts real
// permitd processes on loopback and measures, side by side, what one node
// answers at 50 concurrent callers over gRPC: the health check (the
// ceiling), VerifyPermit by credential and by id, GetPermit, IssuePermit
// with durable commits, and a service request routed to a fast simulated
// department. For each it reports QPS, p50, p99 and the CPU the servers
// used per 1,000 calls, prints a table and writes docs/benchmarks.md.
//
// From the repository root:
//
//	go run ./server/devbench                          # bbolt, 10 s per measurement
//	go run ./server/devbench --redis --replicas 2     # two permitd on a redis-server it starts
//	go run ./server/devbench --store redis://127.0.0.1:6379/5   # on an empty Redis database
//	go run ./server/devbench --compare --duration 15s # bbolt, Redis with 1 and with 2 replicas
//	go run ./server/devbench --scale 1000000,10000000 --scale-cache scale-cache
//
// The last is the scale mode (docs/scale.md): for each size it imports
// that many synthetic residents through a permitd's ImportService into a
// data folder kept in the cache folder, then starts permitd on it and
// measures the start-up, the Go heap in use (from the node's /metrics),
// the file size and VerifyPermit and GetPermit, beside a node of
// --scale-base permits; it rewrites the Scale section of
// docs/benchmarks.md.
//
// Each setup runs in a fresh temporary folder with a permitd (or several,
// sharing one Redis store and issuer key) and a devdepartment simulator;
// everything it starts listens on 127.0.0.1 only and is stopped, by PID,
// before the next setup. The redis-server it starts (--redis) keeps an
// append-only file fsync'd at every write (appendfsync always), so that
// IssuePermit is as durable as on bbolt. A run takes about six times
// --duration per setup, plus building and seeding.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// callersGCPercent is the callers' collector target unless GOGC sets one:
// they share the cores with the permitd measured, so their garbage
// collection takes from it what remote clients' would not. It is
// permitd's own default (node.GCPercent).
const callersGCPercent = 300

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(callersGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "devbench:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "devbench:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ error }

// options are the parsed flags.
type options struct {
	duration time.Duration
	callers  int
	permits  int
	seed     uint64
	store    string
	redis    bool
	replicas int
	compare  bool
	out      string
	// The scale mode: scale permits against scaleBase, the prepared data
	// folders kept in scaleCache (empty: a temporary folder).
	scale      []int
	scaleBase  int
	scaleCache string
	// profile is the folder receiving a CPU profile of the first permitd
	// per measurement; empty for none.
	profile string
	// only, when not empty, limits the measurements to those whose names
	// contain it (any case).
	only string
}

// parseFlags parses args; usage and flag errors go to stderr.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("devbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `devbench starts real permitd processes on loopback and measures the health
check, VerifyPermit by credential and by id, GetPermit, IssuePermit and a
service request at concurrent callers; it prints a table and writes
docs/benchmarks.md.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each measurement lasts (1s-10m)")
	fs.IntVar(&o.callers, "callers", 50, "concurrent callers (1-1000)")
	fs.IntVar(&o.permits, "permits", 1000, "permits issued before measuring, to read and verify (1-1000000)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the synthetic residents")
	fs.StringVar(&o.store, "store", "", "a Redis store `URL` for permitd (redis://...; an empty database) instead of bbolt")
	fs.BoolVar(&o.redis, "redis", false, "start a redis-server on a free loopback port for the store")
	fs.IntVar(&o.replicas, "replicas", 1, "permitd processes of the division sharing the Redis store, callers spread over them")
	fs.BoolVar(&o.compare, "compare", false, "measure bbolt, then Redis (a redis-server started here) with one replica and with two")
	fs.Func("scale", "scale mode: measure nodes holding these `numbers` of permits (comma-separated; each imported once, then cached) against one holding --scale-base", func(v string) error {
		o.scale = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 50_000_000 {
				return errors.New("want permit counts from 1 to 50000000, separated by commas")
			}
			o.scale = append(o.scale, n)
		}
		return nil
	})
	fs.IntVar(&o.scaleBase, "scale-base", 10_000, "scale mode: the permits of the node compared against")
	fs.StringVar(&o.scaleCache, "scale-cache", "", "scale mode: `folder` keeping the prepared node data folders between runs (empty: a temporary folder, removed)")
	fs.StringVar(&o.profile, "profile", "", "`folder` receiving a CPU profile of the first permitd during each measurement (<setup>-<measurement>.pprof); empty for none")
	fs.StringVar(&o.only, "only", "", "measure only the calls whose names contain `text` (any case), e.g. IssuePermit; no report is written")
	fs.StringVar(&o.out, "out", filepath.Join("docs", "benchmarks.md"), "`file` the report is written to; empty for none")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	outGiven := false
	fs.Visit(func(f *flag.Flag) { outGiven = outGiven || f.Name == "out" })
	switch {
	case fs.NArg() > 0:
		return nil, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case o.duration < time.Second || o.duration > 10*time.Minute:
		return nil, usageError{errors.New("--duration must be between 1s and 10m")}
	case o.callers < 1 || o.callers > 1000:
		return nil, usageError{errors.New("--callers must be between 1 and 1000")}
	case o.permits < 1 || o.permits > 1_000_000:
		return nil, usageError{errors.New("--permits must be between 1 and 1000000")}
	case o.replicas < 1 || o.replicas > 8:
		return nil, usageError{errors.New("--replicas must be between 1 and 8")}
	case o.store != "" && o.redis:
		return nil, usageError{errors.New("give --store or --redis, not both")}
	case o.store != "" && !strings.HasPrefix(o.store, "redis"):
		return nil, usageError{fmt.Errorf("--store %q: want a redis:// URL (bbolt is the default)", o.store)}
	case o.compare && (o.store != "" || o.redis || o.replicas != 1):
		return nil, usageError{errors.New("--compare chooses the stores and replicas itself")}
	case o.scale != nil && (o.scaleBase < 1 || o.scaleBase > slices.Min(o.scale)):
		return nil, usageError{errors.New("--scale-base must be between 1 and the smallest --scale")}
	case o.scale != nil && (o.compare || o.redis || o.store != "" || o.replicas != 1):
		return nil, usageError{errors.New("--scale measures one permitd on bbolt")}
	case o.scale == nil && o.scaleCache != "":
		return nil, usageError{errors.New("--scale-cache needs --scale")}
	case o.replicas > 1 && o.store == "" && !o.redis:
		return nil, usageError{errors.New("--replicas above 1 needs a shared store: --redis or --store")}
	case o.only != "" && outGiven:
		return nil, usageError{errors.New("--only writes no report; leave out --out")}
	case o.only != "" && o.scale != nil:
		return nil, usageError{errors.New("--only chooses among the calls of the table, not the scale mode's")}
	case o.only != "" && !slices.ContainsFunc(measurements, func(m string) bool { return o.measures(m) }):
		return nil, usageError{fmt.Errorf("--only %q names no measurement (%s)", o.only, strings.Join(measurements, "; "))}
	}
	if o.only != "" {
		o.out = "" // a part of the table is no report
	}
	return o, nil
}

// measures reports whether the measurement name is to be made.
func (o *options) measures(name string) bool {
	return strings.Contains(strings.ToLower(name), strings.ToLower(o.only))
}

// setups are the arrangements the options ask for.
func (o *options) setups() []setup {
	if o.compare {
		return []setup{
			{Name: "bbolt, one permitd", Replicas: 1},
			{Name: "Redis, one permitd", Redis: true, Replicas: 1},
			{Name: "Redis, two permitd replicas", Redis: true, Replicas: 2},
		}
	}
	s := setup{Name: "bbolt, one permitd", Redis: o.redis, Store: o.store, Replicas: o.replicas}
	if o.redis || o.store != "" {
		s.Name = "Redis, one permitd"
		if o.replicas > 1 {
			s.Name = fmt.Sprintf("Redis, %d permitd replicas", o.replicas)
		}
	}
	return []setup{s}
}

// run is devbench with its arguments (without the program name): tables
// go to stdout, progress to stderr. It fails when a measurement had errors,
// after reporting them.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.scale != nil {
		return runScaleReport(ctx, o, args, stdout, stderr)
	}
	results, err := bench(ctx, o, stderr)
	for _, sr := range results {
		printTable(stdout, sr)
	}
	if err != nil {
		return err
	}
	if o.out != "" {
		var b strings.Builder
		command := strings.TrimSpace("go run ./server/devbench " + strings.Join(args, " "))
		if err := writeMarkdown(&b, thisMachine(), command, o, results); err != nil {
			return err
		}
		// The scale section, written by the scale mode, stays.
		if old, err := os.ReadFile(o.out); err == nil {
			if i := strings.Index(string(old), scaleHeading); i >= 0 {
				b.WriteString("\n" + string(old[i:]))
			}
		}
		if err := os.WriteFile(o.out, []byte(b.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "devbench: wrote %s\n", o.out)
	}
	for _, sr := range results {
		for _, r := range sr.Results {
			if r.Errors > 0 {
				return fmt.Errorf("%s: %s: %d calls failed", sr.Setup.Name, r.Name, r.Errors)
			}
		}
	}
	return nil
}

// bench builds permitd and devdepartment and measures every setup the
// options ask for, returning what was measured so far when one fails.
func bench(ctx context.Context, o *options, log io.Writer) ([]setupResult, error) {
	bins, cleanup, err := build(ctx, log)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var results []setupResult
	for _, s := range o.setups() {
		sr, err := runSetup(ctx, o, bins, s, log)
		if len(sr.Results) > 0 {
			results = append(results, sr)
		}
		if err != nil {
			return results, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	return results, nil
}

// build builds permitd and devdepartment into a temporary folder that
// cleanup removes.
func build(ctx context.Context, log io.Writer) (_ binaries, cleanup func(), _ error) {
	dir, err := os.MkdirTemp("", "devbench-bin-")
	if err != nil {
		return binaries{}, nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	bins := binaries{permitd: filepath.Join(dir, "permitd"), devdepartment: filepath.Join(dir, "devdepartment")}
	for bin, pkg := range map[string]string{bins.permitd: "server/permitd", bins.devdepartment: "server/devdepartment"} {
		fmt.Fprintf(log, "devbench: building %s\n", pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/yrd-epermit/epermit/"+pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			cleanup()
			return binaries{}, nil, fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
	}
	return bins, cleanup, nil
}
