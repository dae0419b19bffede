package command

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/client/importcsv"
	"github.com/yrd-epermit/epermit/internal/atomicfile"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Batches of import: rows per message by default and at most (the node's
// limit), and the bytes one message holds at most, well within the
// node's 256 KiB.
const (
	defaultImportBatch = 1000
	maxImportBatch     = 1000
	maxImportBytes     = 192 << 10
	// importWindow is how many batches are sent ahead of their answers.
	importWindow = 8
)

// importOptions are the options of the import command.
type importOptions struct {
	global *globalOptions
	errors string
	state  string
	batch  int
	resume bool
	yes    bool
}

// newImportCommand returns the import command.
func newImportCommand(g *globalOptions) *cobra.Command {
	o := &importOptions{global: g}
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import the existing residents of this division from a CSV file (supervisors)",
		Long: `Import the division's existing residents, who hold its paper residence
permit, from a CSV file: UTF-8 (with or without a byte-order mark), a header
line naming the columns, one resident a row. The columns (docs/import.md):

  citizen_id            18-character citizen id number          required
  name                  name as on the identity card             required
  ethnicity             民族, e.g. 汉                             required
  hukou_address         household-registration address          required
  residence_address     residence address in this division      required
  residence_start_date  YYYY-MM-DD, start of residence on the    required
                        paper permit: residence years count from it
  sex                   男 or 女 (M or F); must agree with the id  optional
  birth_date            YYYY-MM-DD; must agree with the id        optional

Every row is checked as the node checks an issue request, here first and
again by the node; a citizen's second row in the file is refused. The good
rows are sent in batches (--batch) on one stream and each becomes a permit,
issued today, ACTIVE (PENDING in a federation until the other members
confirm). Every refused row goes to the error file (--errors, by default
FILE.errors.csv): the row as read, its line and the reason.

Each row carries a request id made of the file's SHA-256 and its line, so
importing the same file again replays the rows already imported instead of
issuing twice. The progress is saved after every batch in the state file
(--state, by default FILE.import.json); after an interruption, --resume goes
on after the last batch the node answered.

A progress bar with the rate and the time left goes to standard error
(plain lines when it is not a terminal); the summary to standard output.
The exit status is 3 when rows were refused. The command asks for
confirmation unless --yes is given.`,
		Example: `  permitctl import residents.csv --yes
  permitctl import residents.csv --errors refused.csv --batch 1000 --yes
  permitctl import residents.csv --resume --yes     # after an interruption`,
		Args: exactArgs("FILE"),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of import on fs.
func (o *importOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.errors, "errors", "", "`file` for the refused rows with their reasons (default FILE.errors.csv)")
	fs.StringVar(&o.state, "state", "", "`file` recording the progress, for --resume (default FILE.import.json)")
	fs.IntVar(&o.batch, "batch", defaultImportBatch, fmt.Sprintf("rows sent in one message, 1-%d", maxImportBatch))
	fs.BoolVar(&o.resume, "resume", false, "go on after the last batch the state file records")
	fs.BoolVarP(&o.yes, "yes", "y", false, "import without asking for confirmation")
}

// importState is the state file: how far an import of one file came.
type importState struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	// Line is the last line whose row is done: answered by the node, or
	// refused here, and in the error file.
	Line int64 `json:"line"`
	// RowsDone counts the rows up to Line.
	RowsDone int64 `json:"rows_done"`
	// ErrorsOffset is the size of the error file with the rows up to Line.
	ErrorsOffset int64 `json:"errors_offset"`
	Imported     int64 `json:"imported"`
	Replayed     int64 `json:"replayed"`
	Refused      int64 `json:"refused"`
	// Pending counts the rows imported PENDING (in a federation).
	Pending  int64 `json:"pending"`
	Complete bool  `json:"complete"`
}

// importSummary is what import prints at the end.
type importSummary struct {
	File     string `json:"file"`
	Rows     int64  `json:"rows"`
	Imported int64  `json:"imported"`
	Replayed int64  `json:"replayed"`
	Refused  int64  `json:"refused"`
	// Pending counts the imported or replayed permits that wait for the
	// other members of a federation.
	Pending    int64   `json:"pending,omitempty"`
	ErrorsFile string  `json:"errors_file"`
	Seconds    float64 `json:"seconds"`
	RowsPerSec float64 `json:"rows_per_second"`
	// Resumed counts the rows done by earlier runs, skipped by --resume.
	Resumed int64 `json:"resumed,omitempty"`
}

// importChunk is the rows of one message with the rows refused here
// before them, handled in line order when the node answers.
type importChunk struct {
	rows []*importcsv.Row
	send []*epermitv1.ImportRow
	size int
}

// run imports the file.
func (o *importOptions) run(cmd *cobra.Command, args []string) error {
	path := args[0]
	if o.batch < 1 || o.batch > maxImportBatch {
		return usagef(cmd, "--batch must be between 1 and %d", maxImportBatch)
	}
	if o.errors == "" {
		o.errors = path + ".errors.csv"
	}
	if o.state == "" {
		o.state = path + ".import.json"
	}
	if err := canConfirm(cmd, o.yes); err != nil {
		return err
	}
	id, err := scanFile(path)
	if err != nil {
		return err
	}
	st := importState{File: filepath.Base(path), SHA256: id.SHA256}
	if o.resume {
		switch saved, err := readImportState(o.state, id); {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(cmd.ErrOrStderr(), "no state file %s: importing from the first row (rows imported before are replayed)\n", o.state)
		case err != nil:
			return err
		default:
			st = saved
		}
	}
	if !o.yes {
		q := fmt.Sprintf("Import %d rows of %s into the node at %s?", id.Rows-st.RowsDone, path, o.global.conn.server)
		if err := confirm(cmd.InOrStdin(), cmd.ErrOrStderr(), q, "yes", "word yes"); err != nil {
			return err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := importcsv.NewReader(f, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	errFile, err := openErrorFile(o.errors, st, id)
	if err != nil {
		return err
	}
	defer errFile.Close()
	if st.ErrorsOffset == 0 {
		if err := writeErrorHeader(errFile, rd.Header(), id.BOM); err != nil {
			return err
		}
	}
	sum := importSummary{File: path, Rows: id.Rows, ErrorsFile: o.errors, Resumed: st.RowsDone}
	progress := newProgress(cmd.ErrOrStderr(), "import", "rows", id.Rows, st.RowsDone)
	start := time.Now()
	err = o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		if st.Complete {
			return nil
		}
		return o.stream(ctx, c, rd, id, &st, errFile, progress)
	})
	progress.finish()
	elapsed := time.Since(start)
	sum.Imported, sum.Replayed, sum.Refused, sum.Pending = st.Imported, st.Replayed, st.Refused, st.Pending
	sum.Seconds = elapsed.Seconds()
	if elapsed > 0 {
		sum.RowsPerSec = float64(st.RowsDone-sum.Resumed) / elapsed.Seconds()
	}
	if err != nil {
		return fmt.Errorf("import stopped after line %d (%d of %d rows done; run it again with --resume to go on): %w",
			st.Line, st.RowsDone, id.Rows, err)
	}
	if err := o.global.printer.(importPrinter).ImportSummary(sum); err != nil {
		return err
	}
	if sum.Refused > 0 {
		return &ExitError{Code: exitNotValid, Err: fmt.Errorf("refused rows: %d; they are in %s with the reasons", sum.Refused, o.errors)}
	}
	return nil
}

// stream sends the rows after st.Line on one ImportPermits stream and
// records every answer, batch by batch, in the error file and st.
func (o *importOptions) stream(ctx context.Context, c *client.Client, rd *importcsv.Reader, id importcsv.Identity,
	st *importState, errFile *os.File, progress *progress) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Imports.ImportPermits(ctx)
	if err != nil {
		return err
	}
	chunks := make(chan *importChunk, importWindow)
	sendErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		err := o.send(ctx, stream, rd, id, st.Line, chunks)
		if errors.Is(err, io.EOF) {
			// The node ended the stream; Recv tells why.
			err = nil
		} else if err != nil {
			cancel()
		}
		sendErr <- err
	}()
	out := bufio.NewWriter(errFile)
	w := csv.NewWriter(out)
	for ch := range chunks {
		var results []*epermitv1.ImportResult
		if len(ch.send) > 0 {
			resp, err := stream.Recv()
			if err != nil {
				cancel()
				if serr := <-sendErr; serr != nil && !errors.Is(serr, context.Canceled) {
					return serr
				}
				return err
			}
			if results = resp.Results; len(results) != len(ch.send) {
				return fmt.Errorf("the node answered %d rows of a batch of %d", len(results), len(ch.send))
			}
		}
		for _, row := range ch.rows {
			reason := ""
			if row.Import == nil {
				reason = importcsv.Explain(row.Reason, row.Message, row.Violations)
			} else {
				r := results[0]
				results = results[1:]
				if r.Status == epermitv1.PermitStatus_PERMIT_STATUS_PENDING {
					st.Pending++
				}
				switch r.Outcome {
				case epermitv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED:
					st.Imported++
				case epermitv1.ImportOutcome_IMPORT_OUTCOME_REPLAYED:
					st.Replayed++
				default:
					reason = importcsv.Explain(r.Reason, r.Message, r.Violations)
				}
			}
			if reason != "" {
				st.Refused++
				if err := w.Write(append(row.Fields, strconv.FormatInt(row.Line, 10), reason)); err != nil {
					return err
				}
			}
			st.Line = row.Line
			st.RowsDone++
		}
		if err := o.checkpoint(w, out, errFile, st); err != nil {
			return err
		}
		progress.add(len(ch.rows))
	}
	if err := <-sendErr; err != nil {
		return err
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("the node answered more batches than were sent")
		}
		return err
	}
	st.Complete = true
	return writeImportState(o.state, *st)
}

// send reads the rows after line skip, sends the good ones in batches and
// hands every chunk, in order, to chunks; the last chunk may send nothing.
func (o *importOptions) send(ctx context.Context, stream epermitv1.ImportService_ImportPermitsClient,
	rd *importcsv.Reader, id importcsv.Identity, skip int64, chunks chan<- *importChunk) error {
	ch := &importChunk{}
	flush := func() error {
		if len(ch.send) > 0 {
			if err := stream.Send(&epermitv1.ImportPermitsRequest{Rows: ch.send}); err != nil {
				return err
			}
		}
		select {
		case chunks <- ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		ch = &importChunk{}
		return nil
	}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the file: %w", err)
		}
		if row.Line <= skip {
			continue // done before; read only to know the citizens seen
		}
		ch.rows = append(ch.rows, row)
		if row.Import == nil {
			continue
		}
		row.Import.RequestId = id.RequestID(row.Line)
		n := proto.Size(row.Import) + 8
		if len(ch.send) > 0 && ch.size+n > maxImportBytes {
			last := ch.rows[len(ch.rows)-1]
			ch.rows = ch.rows[:len(ch.rows)-1]
			if err := flush(); err != nil {
				return err
			}
			ch.rows = append(ch.rows, last)
		}
		ch.send = append(ch.send, row.Import)
		ch.size += n
		if len(ch.send) == o.batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(ch.rows) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	return stream.CloseSend()
}

// checkpoint makes the error file durable up to the rows done and then
// records them in the state file.
func (o *importOptions) checkpoint(w *csv.Writer, out *bufio.Writer, f *os.File, st *importState) error {
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	st.ErrorsOffset = off
	return writeImportState(o.state, *st)
}

// scanFile reads the file once for its identity.
func scanFile(path string) (importcsv.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return importcsv.Identity{}, err
	}
	defer f.Close()
	id, err := importcsv.Scan(f)
	if err != nil {
		return importcsv.Identity{}, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// readImportState reads the state file of an import of the file id.
func readImportState(path string, id importcsv.Identity) (importState, error) {
	var st importState
	b, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("--resume: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("--resume: state file %s: %w", path, err)
	}
	if st.SHA256 != id.SHA256 {
		return st, fmt.Errorf("--resume: state file %s is of another file (or the file changed since): "+
			"import it without --resume, which replays the rows already imported", path)
	}
	return st, nil
}

// writeImportState replaces the state file atomically.
func writeImportState(path string, st importState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// openErrorFile opens the error file for appending after the rows that
// st records as done: created anew for a new import, cut back to
// st.ErrorsOffset when resuming.
func openErrorFile(path string, st importState, id importcsv.Identity) (*os.File, error) {
	if st.ErrorsOffset == 0 {
		return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("--resume: the error file: %w", err)
	}
	if err := f.Truncate(st.ErrorsOffset); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(st.ErrorsOffset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// writeErrorHeader starts the error file: the file's header, then "line"
// and "reason"; with a byte-order mark when the file had one.
func writeErrorHeader(f *os.File, header []string, bom bool) error {
	if bom {
		if _, err := f.WriteString("\uFEFF"); err != nil {
			return err
		}
	}
	w := csv.NewWriter(f)
	if err := w.Write(append(append([]string(nil), header...), "line", "reason")); err != nil {
		return err
	}
	w.Flush()
	return w.Error()
}

// importPrinter prints the summary of an import. Both printers implement
// it beside printer.
type importPrinter interface {
	ImportSummary(s importSummary) error
}

// Ensure both printers are import printers.
var (
	_ importPrinter = (*tablePrinter)(nil)
	_ importPrinter = (*jsonPrinter)(nil)
)

// ImportSummary prints the counts and the rate, one per line.
func (t *tablePrinter) ImportSummary(s importSummary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "rows       %d of %s\n", s.Rows, s.File)
	if s.Resumed > 0 {
		fmt.Fprintf(&b, "resumed    after %d rows done before\n", s.Resumed)
	}
	fmt.Fprintf(&b, "imported   %d\nreplayed   %d\n", s.Imported, s.Replayed)
	if s.Pending > 0 {
		fmt.Fprintf(&b, "pending    %d (waiting for the other member cities to confirm)\n", s.Pending)
	}
	fmt.Fprintf(&b, "refused    %d", s.Refused)
	if s.Refused > 0 {
		fmt.Fprintf(&b, " (in %s, with the reasons)", s.ErrorsFile)
	}
	fmt.Fprintf(&b, "\ntime       %.1f s, %.0f rows/s\n", s.Seconds, s.RowsPerSec)
	_, err := io.WriteString(t.out, b.String())
	return err
}

// ImportSummary prints the summary as JSON.
func (j *jsonPrinter) ImportSummary(s importSummary) error {
	return j.printJSON(s)
}
