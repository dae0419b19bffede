// Package storecopy copies everything a node stores from one store to
// another (store/bolt to store/redis and back) and checks the copy: the
// records of every kind, counted and digested on both sides, the audit
// chain verified on the copy with the same head as the source, and the
// same event head.
//
// The copy reads the source with store.Exporter and writes the target in
// batches with store.Importer, which writes no audit entry, event or
// request record of its own and keeps versions, ids and sequence numbers.
// The target must be empty, unless the copy resumes one that was
// interrupted: imports overwrite records with equal ones and move the
// heads only forward, so running the whole copy again ends where an
// uninterrupted one ends, without duplicate audit entries or events.
// Neither store may be written meanwhile: stop the node first.
package storecopy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yrd-epermit/epermit/store"
)

// DefaultBatchSize is how many records one import carries.
const DefaultBatchSize = 1000

// Options tunes Copy.
type Options struct {
	// Division is the node's division: the source's permits must carry
	// its code, and so must the target's when it is not empty.
	Division string
	// Resume continues an interrupted copy into a target that is not
	// empty.
	Resume bool
	// BatchSize is how many records one import carries; zero keeps
	// DefaultBatchSize.
	BatchSize int
	// Progress, when set, is called after each batch while copying
	// (phase "copy") and while reading the copy back (phase "check"),
	// with the records done and about how many there are in all.
	Progress func(phase string, done, total int64)
}

// KindReport compares one kind of record on both sides.
type KindReport struct {
	Kind                       store.Kind
	Source, Target             int64
	SourceDigest, TargetDigest []byte
}

// Equal reports whether both sides hold the same records of the kind.
func (k KindReport) Equal() bool {
	return k.Source == k.Target && string(k.SourceDigest) == string(k.TargetDigest)
}

// Report is the outcome of Copy: what was copied and what the check found.
type Report struct {
	Kinds []KindReport
	// SourceHead and TargetHead are the last entries of both audit logs
	// as their chain checks walked them: the recorded heads, when the
	// chains are intact (CheckAuditChain compares them).
	SourceHead, TargetHead store.AuditHead
	// SourceChain and TargetChain are the audit chain checks of both.
	SourceChain, TargetChain store.AuditReport
	// SourceEvents and TargetEvents are the event heads of both.
	SourceEvents, TargetEvents uint64
}

// OK reports whether the copy is complete and its audit chain intact.
func (r *Report) OK() bool { return len(r.Problems()) == 0 }

// Problems lists every mismatch the check found, in words.
func (r *Report) Problems() []string {
	var out []string
	for _, k := range r.Kinds {
		switch {
		case k.Source != k.Target:
			out = append(out, fmt.Sprintf("%s: the source holds %d records, the copy %d", k.Kind, k.Source, k.Target))
		case !k.Equal():
			out = append(out, fmt.Sprintf("%s: the records differ (digest %x in the source, %x in the copy)", k.Kind, k.SourceDigest[:8], k.TargetDigest[:8]))
		}
	}
	if r.SourceHead.Seq != r.TargetHead.Seq || string(r.SourceHead.Hash) != string(r.TargetHead.Hash) {
		out = append(out, fmt.Sprintf("audit head: the source's is %d %x, the copy's %d %x",
			r.SourceHead.Seq, r.SourceHead.Hash, r.TargetHead.Seq, r.TargetHead.Hash))
	}
	if !r.TargetChain.Intact {
		out = append(out, fmt.Sprintf("audit chain of the copy: %s (entry %d)", r.TargetChain.Problem, r.TargetChain.FirstBad))
	}
	if r.SourceEvents != r.TargetEvents {
		out = append(out, fmt.Sprintf("event head: the source's is %d, the copy's %d", r.SourceEvents, r.TargetEvents))
	}
	return out
}

// Write prints the report as a summary for people.
func (r *Report) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tsource\tcopy\tdigest\t")
	for _, k := range r.Kinds {
		state := "equal"
		if !k.Equal() {
			state = "DIFFERENT"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", k.Kind, k.Source, k.Target, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "audit head: source %d %x, copy %d %x\n", r.SourceHead.Seq, r.SourceHead.Hash, r.TargetHead.Seq, r.TargetHead.Hash)
	fmt.Fprintf(w, "audit chain: source %s, copy %s\n", chainState(r.SourceChain), chainState(r.TargetChain))
	fmt.Fprintf(w, "event head: source %d, copy %d\n", r.SourceEvents, r.TargetEvents)
	if problems := r.Problems(); len(problems) > 0 {
		fmt.Fprintln(w, "THE COPY DIFFERS FROM THE SOURCE:")
		for _, p := range problems {
			fmt.Fprintln(w, "  "+p)
		}
		return nil
	}
	_, err := fmt.Fprintln(w, "the copy is complete: every record is equal and its audit chain verifies")
	return err
}

// chainState says in a few words how a chain check ended.
func chainState(a store.AuditReport) string {
	if a.Intact {
		return fmt.Sprintf("intact (%d entries)", a.Entries)
	}
	return fmt.Sprintf("BROKEN at entry %d: %s", a.FirstBad, a.Problem)
}

var (
	// ErrRefused is wrapped by the errors of Copy that refuse to begin:
	// nothing was written.
	ErrRefused = errors.New("copy refused")
	// ErrNotEmpty is returned, wrapped with ErrRefused, when the target
	// holds records and the copy does not resume.
	ErrNotEmpty = errors.New("the target is not empty")
)

// refuse returns an error that wraps ErrRefused.
func refuse(err error) error { return fmt.Errorf("%w: %w", ErrRefused, err) }

// Copy copies every record of from into to and checks the copy. It
// refuses (ErrRefused), having written nothing, when a store cannot export or
// import, the source is empty, the target is not empty (ErrNotEmpty)
// unless opts.Resume, or either store holds permits of another division
// than opts.Division; a store that cannot be read is an error of its own. Otherwise it returns the report of the check, whose
// OK says whether the copy is equal; an error after the copy began leaves
// a target to finish with opts.Resume.
func Copy(ctx context.Context, from, to store.Store, opts Options) (*Report, error) {
	src, ok := from.(store.Exporter)
	if !ok {
		return nil, refuse(fmt.Errorf("the source store (%T) cannot export its records", from))
	}
	dst, ok := to.(store.Importer)
	if !ok {
		return nil, refuse(fmt.Errorf("the target store (%T) cannot import records", to))
	}
	dstX, ok := to.(store.Exporter)
	if !ok {
		return nil, refuse(fmt.Errorf("the target store (%T) cannot export its records for the check", to))
	}
	if err := checkDivision(ctx, from, "source", opts.Division); err != nil {
		return nil, refuse(err)
	}
	first, err := firstRecord(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("read the source: %w", err)
	}
	if first == nil {
		return nil, refuse(fmt.Errorf("the source holds nothing for division %s: is it the right store and division?", opts.Division))
	}
	switch r, err := firstRecord(ctx, dstX); {
	case err != nil:
		return nil, fmt.Errorf("read the target: %w", err)
	case r != nil && !opts.Resume:
		return nil, refuse(fmt.Errorf("%w: it holds %s %q and maybe more; copy into an empty store, or pass --resume to finish an interrupted copy into it", ErrNotEmpty, r.Kind, r.Key))
	case r != nil:
		if err := checkDivision(ctx, to, "target", opts.Division); err != nil {
			return nil, refuse(err)
		}
	}
	size := opts.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string, int64, int64) {}
	}

	total, err := src.ExportCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("count the source: %w", err)
	}
	source := newDigests()
	var done int64
	batch := make([]store.Record, 0, size)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := importBatch(ctx, dst, batch); err != nil {
			return err
		}
		done += int64(len(batch))
		batch = batch[:0]
		progress("copy", done, max(total, done))
		return nil
	}
	progress("copy", 0, total)
	err = src.Export(ctx, func(r store.Record) error {
		if r.Kind == store.KindPermit {
			if err := permitDivision(string(r.Key), opts.Division, "source"); err != nil {
				return err
			}
		}
		source.add(r)
		batch = append(batch, r)
		if len(batch) < size {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return check(ctx, from, to, dstX, source, progress)
}

// importAttempts is how often a batch is imported before the copy gives
// up, and importBackoff the wait before the second attempt, doubled for
// each further one.
const (
	importAttempts = 3
	importBackoff  = time.Second
)

// importBatch imports batch, and again after a failure other than a
// malformed record (a lost reply, a timeout under load): importing a batch
// again changes nothing.
func importBatch(ctx context.Context, dst store.Importer, batch []store.Record) error {
	wait := importBackoff
	for attempt := 1; ; attempt++ {
		err := dst.Import(ctx, batch)
		if err == nil || attempt == importAttempts || ctx.Err() != nil || errors.Is(err, store.ErrMalformedRecord) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait *= 2
	}
}

// check reads the copy back and compares it with the source.
func check(ctx context.Context, from, to store.Store, dst store.Exporter, source *digests, progress func(string, int64, int64)) (*Report, error) {
	target := newDigests()
	total := source.total()
	progress("check", 0, total)
	err := dst.Export(ctx, func(r store.Record) error {
		target.add(r)
		if n := target.total(); n%DefaultBatchSize == 0 {
			progress("check", n, max(total, n))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the copy back: %w", err)
	}
	progress("check", target.total(), max(total, target.total()))
	r := &Report{}
	for _, k := range store.Kinds {
		r.Kinds = append(r.Kinds, KindReport{
			Kind: k, Source: source.count[k], Target: target.count[k],
			SourceDigest: source.sum(k), TargetDigest: target.sum(k),
		})
	}
	if r.SourceChain, err = store.CheckAuditChain(ctx, from); err != nil {
		return nil, fmt.Errorf("check the source's audit chain: %w", err)
	}
	if r.TargetChain, err = store.CheckAuditChain(ctx, to); err != nil {
		return nil, fmt.Errorf("check the copy's audit chain: %w", err)
	}
	r.SourceHead, r.TargetHead = r.SourceChain.Head, r.TargetChain.Head
	if r.SourceEvents, err = from.ServiceRequestEventHead(ctx); err != nil {
		return nil, err
	}
	if r.TargetEvents, err = to.ServiceRequestEventHead(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// errStop ends a read early.
var errStop = errors.New("stop")

// firstRecord returns the first record a store exports, nil when it holds
// none.
func firstRecord(ctx context.Context, s store.Exporter) (*store.Record, error) {
	var first *store.Record
	err := s.Export(ctx, func(r store.Record) error {
		first = &r
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return first, nil
}

// checkDivision refuses a store whose first permit is of another division.
func checkDivision(ctx context.Context, s store.Store, side, division string) error {
	ps, err := s.ListPermits(ctx, store.PermitFilter{}, "", 1)
	if err != nil {
		return fmt.Errorf("read the %s: %w", side, err)
	}
	if len(ps) == 0 {
		return nil
	}
	return permitDivision(ps[0].GetId(), division, side)
}

// permitDivision refuses a permit id of another division: permit ids
// start with the issuing division's code and a dash (package permitid).
func permitDivision(id, division, side string) error {
	if d, _, _ := strings.Cut(id, "-"); d != division {
		return fmt.Errorf("the %s holds permit %s, of division %s, not %s: a copy stays in one division (set the division as for permitd: --division, PERMITD_DIVISION or the config file)", side, id, d, division)
	}
	return nil
}

// digests counts and hashes records kind by kind: SHA-256 over each
// record's key and value, both length-prefixed, in the order they come.
type digests struct {
	count map[store.Kind]int64
	hash  map[store.Kind]hash.Hash
}

func newDigests() *digests {
	d := &digests{count: map[store.Kind]int64{}, hash: map[store.Kind]hash.Hash{}}
	for _, k := range store.Kinds {
		d.hash[k] = sha256.New()
	}
	return d
}

// add counts and hashes r. A record of an unknown kind counts under its
// kind, which no report lists, and is hashed nowhere.
func (d *digests) add(r store.Record) {
	d.count[r.Kind]++
	h, ok := d.hash[r.Kind]
	if !ok {
		return
	}
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(r.Key)))])
	h.Write(r.Key)
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(r.Value)))])
	h.Write(r.Value)
}

// sum returns the digest of one kind.
func (d *digests) sum(k store.Kind) []byte { return d.hash[k].Sum(nil) }

// total returns how many records were added.
func (d *digests) total() int64 {
	var n int64
	for _, c := range d.count {
		n += c
	}
	return n
}
