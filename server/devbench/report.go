package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// machine describes where the figures were measured.
type machine struct {
	CPU   string
	Cores int
	Go    string
	Date  time.Time
}

// thisMachine describes the machine the harness runs on.
func thisMachine() machine {
	return machine{CPU: cpuModel(), Cores: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		Date: time.Now().UTC()}
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAverage is the first three fields of /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// goal is one of issue 7's goals for a 2-core machine.
type goal struct {
	What     string
	Want     string
	Measured string
	Met      bool
	// Estimated is the same figure from the CPU time per call instead of
	// the QPS measured (see cpuBoundQPS).
	Estimated string
}

// goals checks the setup's figures against the goals.
func goals(sr setupResult, cores int) []goal {
	qps, est := map[string]float64{}, map[string]float64{}
	for _, r := range sr.Results {
		qps[r.Name], est[r.Name] = r.QPS(), r.cpuBoundQPS(cores)
	}
	var out []goal
	ratio := func(what, name string, want float64) {
		if _, ok := qps[name]; ok && qps[mHealth] > 0 && est[mHealth] > 0 {
			got := qps[name] / qps[mHealth]
			out = append(out, goal{What: what, Want: fmt.Sprintf(">= %.0f%% of health-check QPS", want*100),
				Measured: fmt.Sprintf("%.0f%% (%s of %s)", got*100, thousands(qps[name]), thousands(qps[mHealth])), Met: got >= want,
				Estimated: fmt.Sprintf("%.0f%% (%s of %s)", est[name]/est[mHealth]*100, thousands(est[name]), thousands(est[mHealth]))})
		}
	}
	rate := func(what, name string, want float64) {
		if _, ok := qps[name]; !ok {
			return
		}
		out = append(out, goal{What: what, Want: fmt.Sprintf(">= %s/s", thousands(want)), Measured: thousands(qps[name]) + "/s",
			Met: qps[name] >= want, Estimated: thousands(est[name]) + "/s"})
	}
	ratio("VerifyPermit by id, against the ceiling", mVerifyID, 0.60)
	ratio("VerifyPermit by credential, against the ceiling", mVerifyCred, 0.25)
	rate("IssuePermit, durable commits", mIssuePermit, 5000)
	rate("scenario request to a fast department", mServiceRoute, 3000)
	return out
}

// thousands writes x rounded, with thousands separated by commas.
func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// ms writes a latency in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// row is a result's cells, as both tables show them.
func row(r result) []string {
	return []string{r.Name, fmt.Sprint(r.Calls), fmt.Sprint(r.Errors), thousands(r.QPS()), ms(r.P50), ms(r.P99),
		fmt.Sprintf("%.3f", r.perThousand(r.ServerCPU)), fmt.Sprintf("%.3f", r.perThousand(r.OtherCPU)),
		fmt.Sprintf("%.3f", r.perThousand(r.CallerCPU))}
}

// header names the columns of row.
var header = []string{"measurement", "calls", "errors", "QPS", "p50 ms", "p99 ms",
	"permitd CPU s/1k calls", "other CPU s/1k", "callers CPU s/1k"}

// printTable writes the setup's results as an aligned text table.
func printTable(w io.Writer, sr setupResult) {
	fmt.Fprintf(w, "\n%s (load average before %s, after %s)\n", sr.Setup.Name, sr.LoadBefore, sr.LoadAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, r := range sr.Results {
		fmt.Fprintln(tw, strings.Join(row(r), "\t")+"\t")
	}
	tw.Flush()
	printDelivery(w, sr)
	for _, g := range goals(sr, runtime.NumCPU()) {
		fmt.Fprintf(w, "goal %s %s: %s%s (from CPU time: %s)\n", g.What, g.Want, g.Measured,
			map[bool]string{true: "", false: "  NOT MET"}[g.Met], g.Estimated)
	}
	for _, r := range sr.Results {
		if r.Errors > 0 {
			fmt.Fprintf(w, "%s: %d errors, the first: %s\n", r.Name, r.Errors, r.FirstError)
		}
	}
}

// printDelivery says how the outbox kept up with the service requests.
func printDelivery(w io.Writer, sr setupResult) {
	if sr.DeliveredIn > 0 {
		fmt.Fprintf(w, "service requests delivered to the department: %d, the last %.1f s after the first was submitted (%s/s)\n",
			sr.Delivered, sr.DeliveredIn.Seconds(), thousands(float64(sr.Delivered)/sr.DeliveredIn.Seconds()))
	}
}

// writeMarkdown writes docs/benchmarks.md: the machine, the command, and
// each setup's table beside the goals.
func writeMarkdown(w io.Writer, m machine, command string, o *options, setups []setupResult) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, `# Benchmarks

Written by the benchmark harness (server/devbench); run it again to
refresh the figures. Loopback benchmarks on a shared machine are noisy:
compare figures of one run, side by side, rather than across runs.

| | |
|---|---|
| machine | %s, %d cores |
| Go | %s |
| date | %s |
| command | `+"`%s`"+` |

Each measurement calls one RPC for %v from %d concurrent callers over
loopback gRPC (plaintext, a bearer token per call), each caller calling
again as soon as its answer arrives; the callers are spread over %d client
connections per permitd. Before the measurements %d permits of synthetic
residents (package synth) are issued through the API; reads and
verifications go round them, IssuePermit issues new residents' permits.
QPS counts calls answered without error; p50 and p99 are their latencies.
CPU is user plus system time from /proc/<pid>/stat before and after, per
1,000 calls answered: of the permitd processes, of the others the harness
started (redis-server, when it started one, and the department
simulator), and of the harness itself (the callers and their gRPC
clients). On a 2-core machine the callers compete with the server for
the same cores; their garbage collector runs at GOGC=300 (unless GOGC is
set), as permitd's does, so that it takes less of them. The load averages given with each setup count the
benchmark's own processes too; much above the core count, something else
was running. Then the QPS measured says more about the machine's other
work than about permitd, and the column "from CPU time" beside each goal
is the steadier figure: the QPS the CPU time per call of all the
processes (permitd, the others and the callers) would allow on all the
cores, an upper bound that leaves out waiting for fsync.

- Health/Check is the gRPC health service of the same permitd: what gRPC
  alone costs, the ceiling for every other row.
- VerifyPermit by credential decodes the credential text, checks the
  signature and reads the permit's status; by id it reads the permit and
  answers with its status.
- GetPermit reads the whole permit; it is personal data, so every call also
  appends an audit entry.
- IssuePermit writes a new permit with its request record and audit entry,
  acknowledged after the store's commit is durable (bbolt: fsync; Redis:
  appendfsync always).
- SubmitServiceRequest routes a request for the service %s to the
  department %s, a devdepartment simulator answering at once: the call
  checks the permit and the rule and records the request durably; the
  outbox delivers it afterwards.

Rate limits are off in the measured permitd (`+"`limits: {mutations_per_second: 0, citizen_mutations_per_minute: 0}`"+`):
the callers stand for many clerks.

To look into one figure, `+"`--only IssuePermit`"+` measures only the calls whose
names contain the text (and writes no report), and `+"`--profile <folder>`"+`
saves a CPU profile of the first permitd over each measurement, for
`+"`go tool pprof`"+`; the profiler turns the permitd's metrics on, which cost a
little CPU of their own.

The goals are the issue's, for the node as it starts by default (bbolt).
The Redis setups show what a store shared by replicas costs: every read
and write is a round trip to a redis-server on the same two cores, and
every write waits for its appendfsync (docs/storage.md, docs/operations.md).
`, m.CPU, m.Cores, m.Go, m.Date.Format("2006-01-02 15:04 UTC"), command, o.duration, o.callers, connsPerReplica, o.permits,
		service, department)
	for _, sr := range setups {
		fmt.Fprintf(b, "\n## %s\n\nLoad average of the machine (1, 5, 15 min) before: %s; after: %s.\n\n", sr.Setup.Name, sr.LoadBefore, sr.LoadAfter)
		fmt.Fprintf(b, "| %s |\n|---|%s\n", strings.Join(header, " | "), strings.Repeat("---:|", len(header)-1))
		for _, r := range sr.Results {
			fmt.Fprintf(b, "| %s |\n", strings.Join(row(r), " | "))
		}
		if sr.DeliveredIn > 0 {
			fmt.Fprintf(b, "\nThe outbox delivered %d service requests to the department, the last %.1f s after the first was submitted (%s/s).\n",
				sr.Delivered, sr.DeliveredIn.Seconds(), thousands(float64(sr.Delivered)/sr.DeliveredIn.Seconds()))
		}
		fmt.Fprintf(b, "\n| goal (issue 7, 2 cores) | wanted | measured | met | from CPU time |\n|---|---|---|---|---|\n")
		for _, g := range goals(sr, m.Cores) {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", g.What, g.Want, g.Measured,
				map[bool]string{true: "yes", false: "**no**"}[g.Met], g.Estimated)
		}
		for _, r := range sr.Results {
			if r.Errors > 0 {
				fmt.Fprintf(b, "\n%s: %d errors, the first: `%s`\n", r.Name, r.Errors, r.FirstError)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
