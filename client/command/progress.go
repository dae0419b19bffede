package command

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows the items a long command has done (import: rows; key
// resign: permits) with the rate and the time left: a progress bar on a
// terminal, else a line every few seconds.
type progress struct {
	bar   *progressbar.ProgressBar
	out   io.Writer
	label string // what is done, e.g. "import"
	unit  string // what is counted, e.g. "rows"
	total int64
	done  int64
	start time.Time
	first int64
	last  time.Time
}

// plainProgressEvery is how often a plain progress line is written.
const plainProgressEvery = 2 * time.Second

// newProgress returns the progress of total items, done of them before.
func newProgress(out io.Writer, label, unit string, total, done int64) *progress {
	p := &progress{out: out, label: label, unit: unit, total: total, done: done, first: done, start: time.Now(), last: time.Now()}
	if f, ok := out.(*os.File); ok && isTerminal(f) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(out) }),
		)
		_ = p.bar.Set64(done)
	}
	return p
}

// add records n more items done.
func (p *progress) add(n int) {
	p.done += int64(n)
	if p.bar != nil {
		_ = p.bar.Add(n)
		return
	}
	if time.Since(p.last) >= plainProgressEvery {
		p.line()
	}
}

// finish ends the bar, or writes the last line.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		return
	}
	p.line()
}

// line writes one plain progress line.
func (p *progress) line() {
	p.last = time.Now()
	elapsed := time.Since(p.start).Seconds()
	rate := float64(p.done-p.first) / max(elapsed, 1e-9)
	eta := "-"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-p.done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	fmt.Fprintf(p.out, "%s: %d/%d %s (%.0f%%), %.0f %s/s, %s left\n", p.label, p.done, p.total, p.unit, pct, rate, p.unit, eta)
}
