package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// scaleHeading starts the section of docs/benchmarks.md that the scale
// mode writes; it is the last section, and the normal run keeps it.
const scaleHeading = "## Scale"

// runScaleReport is the scale mode of run.
func runScaleReport(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	bins, cleanup, err := build(ctx, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	results, err := runScale(ctx, o, bins, stderr)
	printScale(stdout, results)
	if err != nil {
		return err
	}
	if o.out != "" {
		var b strings.Builder
		command := strings.TrimSpace("go run ./server/devbench " + strings.Join(args, " "))
		writeScaleMarkdown(&b, thisMachine(), command, o, results)
		old, err := os.ReadFile(o.out)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		doc := string(old)
		if i := strings.Index(doc, scaleHeading); i >= 0 {
			doc = doc[:i]
		} else if doc == "" {
			doc = "# Benchmarks\n\nWritten by the benchmark harness (server/devbench).\n"
		}
		doc = strings.TrimRight(doc, "\n") + "\n\n" + b.String()
		if err := os.WriteFile(o.out, []byte(doc), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "devbench: wrote %s\n", o.out)
	}
	for _, sr := range results {
		for _, r := range sr.Results {
			if r.Errors > 0 {
				return fmt.Errorf("%d permits: %s: %d calls failed", sr.Permits, r.Name, r.Errors)
			}
		}
	}
	return nil
}

// mb writes bytes in MB (10^6), or "unknown" for a negative count.
func mb(b int64) string {
	if b < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MB", float64(b)/1e6)
}

// secs writes a duration in seconds.
func secs(d interface{ Seconds() float64 }) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// scaleNodeRows are the rows of the node table: a name and a cell per size.
func scaleNodeRows(rs []scaleResult) [][]string {
	rows := [][]string{{"permits"}, {"bbolt file (after the measurements)"}, {"prepared this run (import through ImportService)"},
		{"start-up: process start to health check SERVING"}, {"start-up: process start to first IssuePermit answered"},
		{"Go heap in use after start (go_memstats_heap_inuse_bytes)"}, {"Go heap in use after the measurements"},
		{"RSS after start (the mapped file's resident pages included)"}, {"RSS after the measurements"}}
	for _, r := range rs {
		prepared := "no, cached"
		if r.Prepared > 0 {
			prepared = secs(r.Prepared)
		}
		for i, c := range []string{thousands(float64(r.Permits)), mb(r.FileBytes), prepared, secs(r.ToServing), secs(r.ToIssue),
			mb(r.HeapStart), mb(r.HeapAfter), mb(r.RSSStart), mb(r.RSSAfter)} {
			rows[i] = append(rows[i], c)
		}
	}
	return rows
}

// scaleGoal is one of the issue's scale goals.
type scaleGoal struct{ What, Want, Measured, Met string }

// scaleGoals checks each node larger than the base against the goals.
func scaleGoals(rs []scaleResult) []scaleGoal {
	var out []scaleGoal
	for _, big := range rs[min(1, len(rs)):] {
		out = append(out, scaleGoalsOf(rs[0], big)...)
	}
	return out
}

// scaleGoalsOf checks the node big against the goals and the node base.
func scaleGoalsOf(base, big scaleResult) []scaleGoal {
	met := map[bool]string{true: "yes", false: "**no**"}
	at := thousands(float64(big.Permits)) + " permits: "
	var out []scaleGoal
	for i, name := range scaleMeasurements {
		if i >= len(base.Results) || i >= len(big.Results) || base.Results[i].P99 <= 0 {
			continue
		}
		ratio := float64(big.Results[i].P99) / float64(base.Results[i].P99)
		out = append(out, scaleGoal{at + name + " p99", fmt.Sprintf("<= %.0fx of %s permits", scaleGoalP99, thousands(float64(base.Permits))),
			fmt.Sprintf("%.2fx (%s ms against %s ms)", ratio, ms(big.Results[i].P99), ms(base.Results[i].P99)), met[ratio <= scaleGoalP99]})
	}
	out = append(out,
		scaleGoal{at + "start-up (to SERVING; to first issue)", "< 5 s", secs(big.ToServing) + "; " + secs(big.ToIssue),
			met[big.ToServing < scaleGoalStart && big.ToIssue < scaleGoalStart]},
		scaleGoal{at + "Go heap in use (after start; after the measurements)", "< 300 MB", mb(big.HeapStart) + "; " + mb(big.HeapAfter),
			met[big.HeapStart < scaleGoalHeap && big.HeapAfter < scaleGoalHeap]},
		scaleGoal{at + "bbolt file size", "reported", mb(big.FileBytes), met[big.FileBytes > 0]})
	return out
}

// scaleCallRow is a measurement's cells at one size.
func scaleCallRow(permits int, r result) []string {
	return []string{r.Name, thousands(float64(permits)), fmt.Sprint(r.Calls), fmt.Sprint(r.Errors), thousands(r.QPS()), ms(r.P50), ms(r.P99),
		fmt.Sprintf("%.3f", r.perThousand(r.ServerCPU))}
}

var scaleCallHeader = []string{"measurement", "permits", "calls", "errors", "QPS", "p50 ms", "p99 ms", "permitd CPU s/1k calls"}

// printScale writes the scale figures as aligned text tables.
func printScale(w io.Writer, rs []scaleResult) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nScale")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range scaleNodeRows(rs) {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(scaleCallHeader, "\t")+"\t")
	for i := range scaleMeasurements {
		for _, sr := range rs {
			if i < len(sr.Results) {
				fmt.Fprintln(tw, strings.Join(scaleCallRow(sr.Permits, sr.Results[i]), "\t")+"\t")
			}
		}
	}
	tw.Flush()
	for _, g := range scaleGoals(rs) {
		fmt.Fprintf(w, "goal %s %s: %s (met: %s)\n", g.What, g.Want, g.Measured, strings.Trim(g.Met, "*"))
	}
	for _, sr := range rs {
		for _, r := range sr.Results {
			if r.Errors > 0 {
				fmt.Fprintf(w, "%d permits: %s: %d errors, the first: %s\n", sr.Permits, r.Name, r.Errors, r.FirstError)
			}
		}
	}
}

// writeScaleMarkdown writes the scale section of docs/benchmarks.md.
func writeScaleMarkdown(w io.Writer, m machine, command string, o *options, rs []scaleResult) {
	fmt.Fprintf(w, `%s

Written by the harness's scale mode (issue 7: a node with 10 million
permits in bbolt); docs/scale.md explains the method, where the start-up
time and the heap went, and the design change that meets the goals.

| | |
|---|---|
| machine | %s, %d cores |
| Go | %s |
| date | %s |
| command | `+"`%s`"+` |

Each size is a node data folder prepared once, then cached (--scale-cache):
a permitd started on an empty folder imports synthetic residents (package
synth) through its ImportService, 1,000 rows a batch on %d streams, with
durable commits, so the file is what an import makes on a real node (each
permit ACTIVE with its status-list entry, its request record and audit
entry). The harness then starts permitd on the folder and measures the
start-up (from starting the process until the gRPC health check answers
SERVING, and until its first IssuePermit succeeds), reads the node's Go
heap in use from its /metrics (the memory-mapped bbolt file is not Go
heap; RSS, which counts the file's resident pages, is shown beside it),
and calls each RPC for %v from %d callers. Reads go round %s permit ids
spread evenly over the whole file, each read once before the measurements
(a warm-up, so that they see the node as it serves after a while, not the
first reads after a start); VerifyPermit by credential round %s of
their credentials. Every run adds one permit and GetPermit's audit entries
to the cached folder.

| | %s |
|---|%s
`, scaleHeading, m.CPU, m.Cores, m.Go, m.Date.Format("2006-01-02 15:04 UTC"), command, scaleStreams, o.duration, o.callers,
		thousands(scaleSample), thousands(scaleCreds), strings.Join(scaleNodeRows(rs)[0][1:], " permits | ")+" permits",
		strings.Repeat("---:|", len(rs)))
	for _, row := range scaleNodeRows(rs)[1:] {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintf(w, "\n| %s |\n|---|%s\n", strings.Join(scaleCallHeader, " | "), strings.Repeat("---:|", len(scaleCallHeader)-1))
	for i := range scaleMeasurements {
		for _, sr := range rs {
			if i < len(sr.Results) {
				fmt.Fprintf(w, "| %s |\n", strings.Join(scaleCallRow(sr.Permits, sr.Results[i]), " | "))
			}
		}
	}
	fmt.Fprintf(w, "\nLoad average of the machine (1, 5, 15 min) before and after each size:")
	for _, sr := range rs {
		fmt.Fprintf(w, " %s permits %s, %s;", thousands(float64(sr.Permits)), sr.LoadBefore, sr.LoadAfter)
	}
	fmt.Fprintf(w, "\n\n| goal (issue 7) | wanted | measured | met |\n|---|---|---|---|\n")
	for _, g := range scaleGoals(rs) {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g.What, g.Want, g.Measured, g.Met)
	}
	for _, sr := range rs {
		for _, r := range sr.Results {
			if r.Errors > 0 {
				fmt.Fprintf(w, "\n%s permits, %s: %d errors, the first: `%s`\n", thousands(float64(sr.Permits)), r.Name, r.Errors, r.FirstError)
			}
		}
	}
}
