package command

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yrd-epermit/epermit/client"
	"github.com/yrd-epermit/epermit/internal/atomicfile"
	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// keyResignOptions are the options of the key resign command.
type keyResignOptions struct {
	global      *globalOptions
	compromised string
	batch       int
	credentials string
	yes         bool
}

// newKeyResignCommand returns the key resign command.
func newKeyResignCommand(g *globalOptions) *cobra.Command {
	o := &keyResignOptions{global: g}
	cmd := &cobra.Command{
		Use:   "resign --compromised KID [--credentials FILE]",
		Short: "Re-sign every permit after an issuer key was compromised (admins)",
		Long: `The key compromise drill (docs/operations.md): re-sign every permit of the
node whose credential was signed before the key the node signs with now,
so that residents get credentials signed with the new key.

Run it once the new key is in the trust list the node has loaded and valid
now ('permitd new-issuer-key', 'permitctl trust rotate', 'trust sign'), and
the compromised key is removed from it ('permitctl trust remove DIVISION
--kid KID'): from then on no credential signed with the compromised key
verifies, here or at any member. The node refuses the drill while the
compromised key is still the one it signs with.

Each permit in force (not cancelled, confiscated, superseded or pending)
gets a new version whose credential time is now; nothing else of it
changes, and each is audited. Final permits need no credential and are left
alone. A permit a clerk changes meanwhile is read again, so no change is
lost.

The drill is idempotent: a permit already re-signed is skipped, so after an
interruption (permitctl or the node stopped) run the same command again and
it goes on where it stopped; no permit is re-signed twice.

With --credentials FILE, every credential in force after the drill is
written to FILE, one JSON object a line (permit_id, version, kid,
credential, expire_time), for handing to the residents' apps. The file is
written only when the drill completes (first to FILE.tmp); a rerun writes it
whole again. GetPermit, VerifyPermit and 'permitctl qr' give the new
credentials too.

A progress bar with the rate and the time left goes to standard error (a
line every few seconds when it is not a terminal), then a summary to
standard output (-o json for JSON).`,
		Example: `  permitctl key resign --compromised 21fe31dfa154a261
  permitctl key resign --compromised 21fe31dfa154a261 --credentials new-credentials.jsonl --yes -o json`,
		Args: exactArgs(),
		RunE: o.run,
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags defines the flags of key resign on fs.
func (o *keyResignOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.compromised, "compromised", "", "key `id` of the compromised issuer key (16 hex digits; required)")
	fs.IntVar(&o.batch, "batch", 1000, "permits re-signed per transaction (1-1000)")
	fs.StringVar(&o.credentials, "credentials", "", "write every credential in force to `file` (JSON lines) when the drill completes")
	fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
}

// resignSummary is what key resign prints when it ends.
type resignSummary struct {
	Compromised string    `json:"compromised_kid"`
	KID         string    `json:"kid"`
	Cutover     time.Time `json:"cutover_time"`
	// Total counts the permits left to re-sign when this run started.
	Total    int64   `json:"total"`
	Resigned int64   `json:"resigned"`
	Skipped  int64   `json:"skipped"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"permits_per_second"`
	// CredentialsFile and Credentials: the export, when asked for.
	CredentialsFile string `json:"credentials_file,omitempty"`
	Credentials     int64  `json:"credentials,omitempty"`
}

// credentialLine is one line of the --credentials file.
type credentialLine struct {
	PermitID   string    `json:"permit_id"`
	Version    int64     `json:"version"`
	KID        string    `json:"kid"`
	Credential string    `json:"credential"`
	ExpireTime time.Time `json:"expire_time"`
}

// run asks for confirmation, runs the drill and prints the summary.
func (o *keyResignOptions) run(cmd *cobra.Command, _ []string) error {
	if err := requireFlags(cmd, "compromised"); err != nil {
		return err
	}
	if o.batch < 1 || o.batch > 1000 {
		return usagef(cmd, "--batch must be between 1 and 1000")
	}
	if err := canConfirm(cmd, o.yes); err != nil {
		return err
	}
	if !o.yes {
		q := fmt.Sprintf("Re-sign every permit of the node at %s signed before its current key, retiring key %s?",
			o.global.conn.server, o.compromised)
		if err := confirm(cmd.InOrStdin(), cmd.ErrOrStderr(), q, "yes", "word yes"); err != nil {
			return err
		}
	}
	var export *credentialExport
	if o.credentials != "" {
		var err error
		if export, err = newCredentialExport(o.credentials); err != nil {
			return err
		}
		defer export.abandon()
	}
	sum := resignSummary{Compromised: o.compromised, CredentialsFile: o.credentials}
	start := time.Now()
	var bar *progress
	err := o.global.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		stream, err := c.Keys.ResignPermits(ctx, &epermitv1.ResignPermitsRequest{
			CompromisedKid: o.compromised, BatchSize: int32(o.batch), IncludeCredentials: export != nil})
		if err != nil {
			return err
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if bar == nil {
				sum.KID, sum.Cutover, sum.Total = resp.Kid, resp.CutoverTime.AsTime(), resp.Total
				bar = newProgress(cmd.ErrOrStderr(), "resign", "permits", resp.Total, 0)
			}
			bar.add(int(resp.Resigned - sum.Resigned))
			sum.Resigned, sum.Skipped = resp.Resigned, resp.Skipped
			if export != nil {
				if err := export.write(resp.Credentials); err != nil {
					return err
				}
			}
		}
	})
	if bar != nil {
		bar.finish()
	}
	elapsed := time.Since(start)
	sum.Seconds = elapsed.Seconds()
	if elapsed > 0 {
		sum.PerSec = float64(sum.Resigned) / elapsed.Seconds()
	}
	if err != nil {
		return fmt.Errorf("the drill stopped (%d of %d permits re-signed in this run); run the same command again to go on: %w",
			sum.Resigned, sum.Total, err)
	}
	if export != nil {
		if err := export.commit(); err != nil {
			return err
		}
		sum.Credentials = export.lines
	}
	return o.global.printer.(resignPrinter).ResignSummary(sum)
}

// credentialExport writes the --credentials file: to FILE.tmp, renamed to
// FILE once the drill completes and the file is on disk.
type credentialExport struct {
	path  string
	f     *os.File
	w     *bufio.Writer
	lines int64
}

// newCredentialExport creates path.tmp.
func newCredentialExport(path string) (*credentialExport, error) {
	f, err := os.OpenFile(path+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	return &credentialExport{path: path, f: f, w: bufio.NewWriter(f)}, nil
}

// write adds the credentials of one response.
func (e *credentialExport) write(creds []*epermitv1.ResignedCredential) error {
	for _, c := range creds {
		b, err := json.Marshal(credentialLine{PermitID: c.PermitId, Version: c.Version, KID: c.Credential.GetKid(),
			Credential: c.Credential.GetText(), ExpireTime: c.Credential.GetExpireTime().AsTime()})
		if err != nil {
			return err
		}
		if _, err := e.w.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("writing %s: %w", e.f.Name(), err)
		}
		e.lines++
	}
	return nil
}

// commit flushes, syncs and renames the file to its name, durably (atomicfile.SyncDir).
func (e *credentialExport) commit() error {
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", e.f.Name(), err)
	}
	if err := e.f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", e.f.Name(), err)
	}
	if err := e.f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", e.f.Name(), err)
	}
	e.f = nil
	if err := os.Rename(e.path+".tmp", e.path); err != nil {
		return err
	}
	atomicfile.SyncDir(filepath.Dir(e.path))
	return nil
}

// abandon removes the temporary file of an export not committed.
func (e *credentialExport) abandon() {
	if e.f != nil {
		e.f.Close()
		os.Remove(e.f.Name())
	}
}

// resignPrinter prints the summary of a drill. Both printers implement it
// beside printer.
type resignPrinter interface {
	ResignSummary(s resignSummary) error
}

// Ensure both printers are resign printers.
var (
	_ resignPrinter = (*tablePrinter)(nil)
	_ resignPrinter = (*jsonPrinter)(nil)
)

// ResignSummary prints the keys, the counts and the rate, one per line.
func (t *tablePrinter) ResignSummary(s resignSummary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "compromised  %s\nsigning key  %s (from %s)\n", s.Compromised, s.KID, s.Cutover.In(chinaStandardTime).Format(time.DateTime))
	fmt.Fprintf(&b, "re-signed    %d of %d left\nskipped      %d (final, pending or re-signed before)\n", s.Resigned, s.Total, s.Skipped)
	if s.CredentialsFile != "" {
		fmt.Fprintf(&b, "credentials  %d in %s\n", s.Credentials, s.CredentialsFile)
	}
	fmt.Fprintf(&b, "time         %.1f s, %.0f permits/s\n", s.Seconds, s.PerSec)
	_, err := io.WriteString(t.out, b.String())
	return err
}

// ResignSummary prints the summary as JSON.
func (j *jsonPrinter) ResignSummary(s resignSummary) error {
	return j.printJSON(s)
}
