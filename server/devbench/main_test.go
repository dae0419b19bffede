package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// TestRun runs the harness briefly on bbolt: every measurement made calls
// and none failed, every service request reached the department (run
// fails otherwise), and the report has every row and the goals.
func TestRun(t *testing.T) {
	runBriefly(t, 1, "--duration", "1s", "--permits", "40", "--callers", "8")
}

// TestRunRedisReplicas runs the harness briefly with two permitd replicas
// on a redis-server it starts.
func TestRunRedisReplicas(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		const msg = "redis-server is not installed; install the Debian package redis-server"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v", msg, err)
		}
		t.Skipf("SKIPPED, NOT TESTED: %s (under CI=true this fails)", msg)
	}
	runBriefly(t, 1, "--duration", "1s", "--permits", "40", "--callers", "8", "--redis", "--replicas", "2")
}

// runBriefly runs devbench with args and checks the report of its setups.
func runBriefly(t *testing.T, setups int, args ...string) {
	out := filepath.Join(t.TempDir(), "benchmarks.md")
	// The scale mode's section stays.
	const scale = scaleHeading + "\n\nthe scale mode's figures\n"
	if err := os.WriteFile(out, []byte("# Benchmarks\n\nold figures\n\n"+scale), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, append(args, "--out", out), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	report := string(b)
	if !strings.HasSuffix(report, "\n"+scale) || strings.Contains(report, "old figures") {
		t.Errorf("the report does not end with the scale section kept, or keeps the old figures:\n%s", report)
	}
	for _, want := range []string{"| machine |", "| Go |", "`go run ./server/devbench " + strings.Join(args, " "), "| goal (issue 7, 2 cores) |",
		"service requests to the department"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	for _, name := range measurements {
		rows := 0
		for line := range strings.SplitSeq(report, "\n") {
			if !strings.HasPrefix(line, "| "+name+" |") {
				continue
			}
			rows++
			cells := strings.Split(strings.Trim(line, "| "), " | ")
			calls, err1 := strconv.Atoi(cells[1])
			errs, err2 := strconv.Atoi(cells[2])
			if err1 != nil || err2 != nil || calls == 0 || errs != 0 {
				t.Errorf("row %q: want calls and no errors", line)
			}
			if !strings.Contains(stdout.String(), name) {
				t.Errorf("the table printed lacks %q:\n%s", name, stdout.String())
			}
		}
		if rows != setups {
			t.Errorf("%d rows for %q, want %d:\n%s", rows, name, setups, report)
		}
	}
}

// TestOnlyWithProfile measures one call with --only: the table holds its
// row alone, no report is written, and --profile leaves the permitd's CPU
// profile of it.
func TestOnlyWithProfile(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	profiles := filepath.Join(dir, "profiles")
	err := run(ctx, []string{"--only", "issuepermit", "--duration", "2s", "--permits", "20", "--callers", "4", "--profile", profiles},
		&stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	for _, name := range measurements {
		if got, want := strings.Contains(stdout.String(), name), name == mIssuePermit; got != want {
			t.Errorf("the table shows %q: %v, want %v\n%s", name, got, want, stdout.String())
		}
	}
	if _, err := os.Stat(filepath.Join("docs", "benchmarks.md")); !os.IsNotExist(err) { // the default --out
		t.Errorf("a report was written: %v", err)
	}
	f, err := os.Open(filepath.Join(profiles, "bbolt-one-permitd-IssuePermit-durable.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f) // a profile is a gzipped protocol buffer
	if err != nil {
		t.Fatalf("the profile is not gzipped: %v", err)
	}
	if n, err := io.Copy(io.Discard, zr); err != nil || n == 0 {
		t.Errorf("the profile holds %d bytes: %v", n, err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--duration", "10ms"},
		{"--callers", "0"},
		{"--permits", "0"},
		{"--replicas", "2"},
		{"--redis", "--store", "redis://127.0.0.1:6379/0"},
		{"--store", "/tmp/permits.db"},
		{"--compare", "--redis"},
		{"extra"},
		{"--scale", "100", "--scale-base", "200"},
		{"--scale", "100,x"},
		{"--scale", "0"},
		{"--scale", "100", "--redis"},
		{"--scale-cache", "/tmp/x"},
		{"--only", "nothing measured"},
		{"--only", "IssuePermit", "--scale", "100"},
		{"--only", "IssuePermit", "--out", "report.md"},
	} {
		var stderr bytes.Buffer
		_, err := parseFlags(args, &stderr)
		if _, ok := err.(usageError); !ok {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
}

func TestSetups(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		names []string
	}{
		{nil, []string{"bbolt, one permitd"}},
		{[]string{"--redis"}, []string{"Redis, one permitd"}},
		{[]string{"--store", "redis://127.0.0.1:6379/3", "--replicas", "3"}, []string{"Redis, 3 permitd replicas"}},
		{[]string{"--compare"}, []string{"bbolt, one permitd", "Redis, one permitd", "Redis, two permitd replicas"}},
	} {
		o, err := parseFlags(tc.args, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range o.setups() {
			names = append(names, s.Name)
		}
		if strings.Join(names, "; ") != strings.Join(tc.names, "; ") {
			t.Errorf("%q: setups %q, want %q", tc.args, names, tc.names)
		}
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses; utime 250 and stime 50
	// ticks.
	line := "4242 (permit d (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0"
	got, err := parseStat(line)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStat = %v, %v; want 3s", got, err)
	}
	if _, err := parseStat("4242 (short) S 1"); err == nil {
		t.Error("parseStat accepted a short line")
	}
}

// TestScale runs the scale mode end to end on small nodes, twice on one
// cache: the first run prepares both data folders by import, the second
// starts permitd on the cached ones. Each time the node started on the
// prepared file, issued, and answered every read without error (run fails
// otherwise), and the report has every row.
func TestScale(t *testing.T) {
	cache := t.TempDir()
	out := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(out, []byte("# Benchmarks\n\nthe normal run's figures\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--scale", "2000", "--scale-base", "300", "--duration", "1s", "--callers", "8", "--scale-cache", cache, "--out", out}
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var stdout, stderr bytes.Buffer
		err := run(ctx, args, &stdout, &stderr)
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s\n%s", i, err, stdout.String(), stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		report := string(b)
		for _, want := range []string{"the normal run's figures", "\n## Scale\n", "| machine |", "| 300 permits | 2,000 permits |",
			"| bbolt file (after the measurements) |", "| start-up: process start to health check SERVING |",
			"| Go heap in use after start (go_memstats_heap_inuse_bytes) |", "| 2,000 permits: start-up (to SERVING; to first issue) | < 5 s |",
			"| 2,000 permits: Go heap in use (after start; after the measurements) | < 300 MB |", "| 2,000 permits: bbolt file size | reported |"} {
			if !strings.Contains(report, want) {
				t.Errorf("run %d: the report lacks %q:\n%s", i, want, report)
			}
		}
		prepared := strings.Contains(report, "| prepared this run (import through ImportService) | no, cached | no, cached |")
		if prepared != (i == 1) {
			t.Errorf("run %d: cached folders used: %v, want %v:\n%s", i, prepared, i == 1, report)
		}
		for _, name := range scaleMeasurements {
			for _, permits := range []string{"300", "2,000"} {
				prefix := "| " + name + " | " + permits + " | "
				i := strings.Index(report, prefix)
				if i < 0 {
					t.Errorf("run %d: no row %q:\n%s", i, prefix, report)
					continue
				}
				line, _, _ := strings.Cut(report[i:], "\n")
				cells := strings.Split(strings.Trim(line, "| "), " | ")
				calls, err1 := strconv.Atoi(cells[2])
				errs, err2 := strconv.Atoi(cells[3])
				if err1 != nil || err2 != nil || calls == 0 || errs != 0 {
					t.Errorf("run %d: row %q: want calls and no errors", i, line)
				}
			}
		}
		if t.Failed() {
			break
		}
	}
	checkScaleFile(t, filepath.Join(cache, "permits-2000-seed-1", "data", "permits.db"), 2000)
}

// checkScaleFile checks a prepared file with the store's own code: it
// opens, its audit chain is intact, and it holds the n imported permits
// plus the one issued by each of the two runs, every one ACTIVE with a
// status-list entry of its own.
func checkScaleFile(t *testing.T, path string, n int) {
	t.Helper()
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	r, err := store.CheckAuditChain(ctx, s)
	if err != nil || !r.Intact {
		t.Errorf("audit chain: %+v, %v", r, err)
	}
	if r.Entries < uint64(n) {
		t.Errorf("audit chain: %d entries for %d permits", r.Entries, n)
	}
	indexes := map[uint32]bool{}
	permits := 0
	for after := ""; ; {
		page, err := s.ListPermits(ctx, store.PermitFilter{}, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			permits++
			if p.Status != epermitv1.PermitStatus_PERMIT_STATUS_ACTIVE || p.StatusIndex == nil || indexes[p.GetStatusIndex()] {
				t.Fatalf("permit %s: status %v, status index %v (seen before: %v)", p.Id, p.Status, p.StatusIndex, indexes[p.GetStatusIndex()])
			}
			indexes[p.GetStatusIndex()] = true
			after = p.Id
		}
		if len(page) < 500 {
			break
		}
	}
	if permits != n+2 {
		t.Errorf("%d permits in the file, want the %d imported and the 2 issued", permits, n)
	}
}
