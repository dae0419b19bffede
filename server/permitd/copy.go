package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/yrd-epermit/epermit/server/node"
	"github.com/yrd-epermit/epermit/store/storecopy"
	"github.com/yrd-epermit/epermit/store/storeurl"
)

// copyUsage is the help text of permitd copy.
const copyUsage = `usage: permitd copy --from URL --to URL [--resume] [--division CODE] [--config FILE]

Copies everything a node stores (permits, pending cancellations, accounts,
the audit log, applications, service requests with their outbox state and
event log) from one store to another, for instance from the bbolt file to
Redis or back, and checks the copy: the records of every kind counted and
digested on both sides, the same audit head, the audit chain verified on
the copy, the same event head. It prints a summary and exits with status 1
on any difference.

URLs are those of permitd --store: a bbolt file path, file://,
redis://, rediss://, redis+cluster://, rediss+cluster://. The division is
learnt as permitd learns it (--division, PERMITD_DIVISION, the config
file's division); the stores must hold that division's permits. Stop the
node first: neither store may be written during the copy.

The target must be empty. A copy that was interrupted is finished by
running the same command again with --resume.

Flags:
`

// copyProgressEvery is how often progress is printed when stderr is not a
// terminal.
const copyProgressEvery = 5 * time.Second

// runCopy runs permitd copy and returns the exit status.
func runCopy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("permitd copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, copyUsage)
		fs.PrintDefaults()
	}
	from := fs.String("from", "", "the store to copy, as a `URL` or bbolt file path")
	to := fs.String("to", "", "the store to copy into, as a `URL` or bbolt file path; it must be empty")
	resume := fs.Bool("resume", false, "finish an interrupted copy into a target that is not empty")
	division := fs.String("division", "", "the node's division `code` [PERMITD_DIVISION]")
	config := fs.String("config", "", "the node's YAML config `file`, for its division [PERMITD_CONFIG]")
	batch := fs.Int("batch", storecopy.DefaultBatchSize, "records per import `batch`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(status int, format string, a ...any) int {
		fmt.Fprintf(stderr, "permitd copy: "+format+"\n", a...)
		return status
	}
	switch {
	case fs.NArg() > 0:
		return fail(2, "unexpected argument %q", fs.Arg(0))
	case *from == "" || *to == "":
		return fail(2, "--from and --to are both required; see permitd copy -help")
	case *from == *to:
		return fail(2, "--from and --to name the same store")
	case *batch < 1:
		return fail(2, "--batch must be at least 1")
	}
	var nodeArgs []string
	if *division != "" {
		nodeArgs = append(nodeArgs, "--division", *division)
	}
	if *config != "" {
		nodeArgs = append(nodeArgs, "--config", *config)
	}
	cfg, err := node.Load(nodeArgs, os.Getenv, stderr)
	if err != nil {
		return fail(2, "%v", err)
	}
	if path, ok := storeurl.File(*from); ok {
		if _, err := os.Stat(path); err != nil {
			return fail(1, "source: %v", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := storeurl.Open(ctx, *from, cfg.Division)
	if err != nil {
		return fail(1, "source %s: %v", storeurl.Redact(*from), err)
	}
	defer src.Close()
	// A bbolt target that does not exist yet is removed again when the
	// copy is refused, so that a refusal leaves nothing behind.
	newFile := ""
	if path, ok := storeurl.File(*to); ok {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			newFile = path
		}
	}
	dst, err := storeurl.Open(ctx, *to, cfg.Division)
	if err != nil {
		return fail(1, "target %s: %v", storeurl.Redact(*to), err)
	}
	defer dst.Close()

	fmt.Fprintf(stdout, "permitd copy: division %s, from %s to %s\n", cfg.Division, storeurl.Redact(*from), storeurl.Redact(*to))
	p := newCopyProgress(stderr)
	start := time.Now()
	report, err := storecopy.Copy(ctx, src, dst, storecopy.Options{
		Division: cfg.Division, Resume: *resume, BatchSize: *batch, Progress: p.update,
	})
	p.finish()
	if errors.Is(err, storecopy.ErrRefused) && newFile != "" {
		dst.Close()
		os.Remove(newFile)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return fail(1, "interrupted: %v; run the same command with --resume to finish the copy", err)
	case errors.Is(err, storecopy.ErrNotEmpty):
		return fail(1, "target %s: %v", storeurl.Redact(*to), err)
	case err != nil:
		return fail(1, "%v", err)
	}
	if err := report.Write(stdout); err != nil {
		return fail(1, "%v", err)
	}
	if !report.OK() {
		return 1
	}
	fmt.Fprintf(stdout, "permitd copy: done in %s\n", time.Since(start).Round(time.Millisecond))
	return 0
}

// copyProgress shows the copy's progress on stderr: a progress bar with
// rate and time left on a terminal, otherwise a line every
// copyProgressEvery and at the end of each phase.
type copyProgress struct {
	w     io.Writer
	tty   bool
	bar   *progressbar.ProgressBar
	phase string
	start time.Time
	last  time.Time
}

func newCopyProgress(w io.Writer) *copyProgress {
	f, ok := w.(*os.File)
	return &copyProgress{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// update reports done of total records in phase.
func (p *copyProgress) update(phase string, done, total int64) {
	now := time.Now()
	if phase != p.phase {
		p.finish()
		p.phase, p.start, p.last = phase, now, time.Time{}
		if p.tty {
			p.bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(phase),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("records"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionSetRenderBlankState(true),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
			)
		}
	}
	if p.bar != nil {
		p.bar.ChangeMax64(total)
		_ = p.bar.Set64(done)
		return
	}
	if now.Sub(p.last) < copyProgressEvery && done < total {
		return
	}
	p.last = now
	line := fmt.Sprintf("permitd copy: %s: %d of about %d records", phase, done, total)
	if secs := now.Sub(p.start).Seconds(); done > 0 && secs > 0 {
		rate := float64(done) / secs
		line += fmt.Sprintf(", %.0f records/s", rate)
		if left := total - done; left > 0 {
			line += fmt.Sprintf(", about %s left", time.Duration(float64(left)/rate*float64(time.Second)).Round(time.Second))
		}
	}
	fmt.Fprintln(p.w, line)
}

// finish ends the bar of the current phase.
func (p *copyProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
