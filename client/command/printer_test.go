package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// fixedWidth measures display width the same way whatever the locale, so
// that golden files do not depend on the environment.
var fixedWidth = &runewidth.Condition{EastAsianWidth: false}

// printerCases are results printed by both printers and compared with
// testdata/<name>.<format>.golden.
var printerCases = []struct {
	name  string
	print func(printer) error
}{
	{"permit_active", func(p printer) error { return p.Permit(activePermit(), activeCredential()) }},
	{"permit_suspended", func(p printer) error { return p.Permit(suspendedPermit(), nil) }},
	{"permit_confiscated", func(p printer) error { return p.Permit(confiscatedPermit(), nil) }},
	{"list", func(p printer) error {
		return p.Permits(&epermitv1.ListPermitsResponse{
			Permits: []*epermitv1.Permit{activePermit(), suspendedPermit(), confiscatedPermit()},
		})
	}},
	{"list_more", func(p printer) error {
		return p.Permits(&epermitv1.ListPermitsResponse{
			Permits:       []*epermitv1.Permit{activePermit()},
			NextPageToken: "MzMwNjA0LTRGN0syTTlRWFczQjc",
		})
	}},
	{"list_empty", func(p printer) error { return p.Permits(&epermitv1.ListPermitsResponse{}) }},
	{"verify_valid", func(p printer) error { return p.Verification(validVerification(), false) }},
	{"verify_not_valid", func(p printer) error { return p.Verification(notValidVerification(), false) }},
	{"verify_offline", func(p printer) error {
		v := validVerification()
		v.Verdict = epermitv1.Verdict_VERDICT_STATUS_UNKNOWN
		v.Findings = v.Findings[:4]
		v.Status = epermitv1.PermitStatus_PERMIT_STATUS_UNSPECIFIED
		return p.Verification(v, true)
	}},
	{"verify_format_failed", func(p printer) error {
		return p.Verification(&epermitv1.VerifyPermitResponse{
			Verdict:  epermitv1.Verdict_VERDICT_NOT_VALID,
			Findings: []*epermitv1.Finding{{Check: epermitv1.Check_CHECK_FORMAT, Detail: "the text does not start with YRD1:"}},
		}, false)
	}},
	{"key_stdout", func(p printer) error { return p.IssuerKey(issuerKey(), "") }},
	{"key_file", func(p printer) error { return p.IssuerKey(issuerKey(), "330604.pem") }},
	{"qr_png", func(p printer) error {
		return p.QRCode(qrCode{PermitID: "330604-4F7K2M9QXW3B7", Credential: activeCredential(), PNGFile: "permit.png"})
	}},
	{"cancel_requested", func(p printer) error {
		return p.CancellationRequested(&epermitv1.CancelPermitResponse{Permit: activePermit(), Pending: pendingCancellation()})
	}},
	{"confiscation_requested", func(p printer) error {
		return p.CancellationRequested(&epermitv1.CancelPermitResponse{Permit: suspendedPermit(), Pending: pendingConfiscation()})
	}},
	{"pending_list", func(p printer) error {
		return p.PendingCancellations(&epermitv1.ListPendingCancellationsResponse{
			Pending: []*epermitv1.PendingCancellation{pendingCancellation(), pendingConfiscation()},
		})
	}},
	{"pending_list_empty", func(p printer) error {
		return p.PendingCancellations(&epermitv1.ListPendingCancellationsResponse{})
	}},
	{"pending_rejected", func(p printer) error {
		return p.CancellationRejected(&epermitv1.RejectCancellationResponse{Pending: pendingConfiscation()})
	}},
	{"account_created", func(p printer) error {
		return p.Account(accountResult{Account: clerkAccount(), Token: clerkToken, Created: true})
	}},
	{"account_created_system", func(p printer) error {
		a := partnerAccount()
		a.Disabled = false
		return p.Account(accountResult{Account: a, Created: true})
	}},
	{"account_rotated", func(p printer) error {
		return p.Account(accountResult{Account: supervisorAccount(), Token: "epk_test_U3VwTGlSb3RhdGVkVG9rZW4wMDAy"})
	}},
	{"account_disabled", func(p printer) error {
		return p.Account(accountResult{Account: partnerAccount()})
	}},
	{"accounts", func(p printer) error {
		return p.Accounts(&epermitv1.ListAccountsResponse{
			Accounts: []*epermitv1.Account{clerkAccount(), partnerAccount(), supervisorAccount()},
		})
	}},
	{"accounts_empty", func(p printer) error { return p.Accounts(&epermitv1.ListAccountsResponse{}) }},
	{"whoami", func(p printer) error {
		return p.WhoAmI(&epermitv1.WhoAmIResponse{Account: supervisorAccount(), AuthenticatedBy: "token"})
	}},
	{"audit_list", func(p printer) error {
		return p.AuditEntries(&epermitv1.ListAuditEntriesResponse{Entries: auditEntries()})
	}},
	{"audit_list_more", func(p printer) error {
		return p.AuditEntries(&epermitv1.ListAuditEntriesResponse{Entries: auditEntries()[:2], NextPageToken: "2"})
	}},
	{"audit_list_empty", func(p printer) error {
		return p.AuditEntries(&epermitv1.ListAuditEntriesResponse{})
	}},
	{"audit_intact", func(p printer) error { return p.AuditChain(intactChain()) }},
	{"audit_broken", func(p printer) error { return p.AuditChain(brokenChain()) }},
}

func TestPrinters(t *testing.T) {
	printers := map[outputFormat]func(out, errOut *bytes.Buffer) printer{
		outputTable: func(out, errOut *bytes.Buffer) printer {
			return &tablePrinter{out: out, errOut: errOut, width: fixedWidth}
		},
		outputJSON: func(out, errOut *bytes.Buffer) printer { return &jsonPrinter{out: out, errOut: errOut} },
	}
	for format, newPrinter := range printers {
		for _, tt := range printerCases {
			t.Run(tt.name+"."+string(format), func(t *testing.T) {
				var out, errOut bytes.Buffer
				if err := tt.print(newPrinter(&out, &errOut)); err != nil {
					t.Fatal(err)
				}
				if format == outputJSON && !jsonValues(out.Bytes()) {
					t.Errorf("output is not JSON:\n%s", out.String())
				}
				got := out.String()
				if errOut.Len() > 0 {
					got += "--- stderr ---\n" + errOut.String()
				}
				checkGolden(t, filepath.Join("testdata", tt.name+"."+string(format)+".golden"), got)
			})
		}
	}
}

// jsonValues reports whether b is one or more JSON values, such as an
// indented object or JSON Lines, and nothing else.
func jsonValues(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	n := 0
	for {
		var v json.RawMessage
		switch err := dec.Decode(&v); {
		case errors.Is(err, io.EOF):
			return n > 0
		case err != nil:
			return false
		}
		n++
	}
}

// checkGolden compares got with the golden file, or rewrites the file with
// -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update to accept it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestTableAlignsChineseText checks, apart from the golden files, that each
// column of a table starts at the same display column on every line,
// whatever mix of Chinese and ASCII text precedes it.
func TestTableAlignsChineseText(t *testing.T) {
	rows := [][]string{
		{"ID", "NAME", "CITIZEN ID", "STATUS"},
		{"330604-4F7K2M9QXW3B7", "测试者甲", "330602********1231", "active"},
		{"330604-7QW2M4K9XB3F1", "欧阳测试者乙", "110101********4514", "suspended"},
		{"330604-9X3B7F4K2M8Q5", "Test Person", "320502********0028", "confiscated"},
		{"330604-2B8N5R4T6Y1U9", "测", "330604********8885", "expired"},
	}
	tb := &table{width: fixedWidth}
	for _, r := range rows {
		tb.add(r...)
	}
	var out bytes.Buffer
	if err := tb.writeTo(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(rows) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(rows), out.String())
	}
	for col := range rows[0] {
		start := -1
		for i, line := range lines {
			pos := 0 // byte offset of cell col in line
			for c := 0; c <= col; c++ {
				idx := strings.Index(line[pos:], rows[i][c])
				if idx < 0 {
					t.Fatalf("line %q lacks cell %q", line, rows[i][c])
				}
				pos += idx
				if c < col {
					pos += len(rows[i][c])
				}
			}
			w := fixedWidth.StringWidth(line[:pos])
			if start < 0 {
				start = w
			} else if w != start {
				t.Errorf("column %d starts at display column %d on line %d, at %d on line 0:\n%s", col, w, i, start, out.String())
			}
		}
	}
}

func TestTableControlCharacters(t *testing.T) {
	tb := &table{width: fixedWidth}
	tb.add("Name", "测试\x1b[31m者\n甲")
	var out bytes.Buffer
	if err := tb.writeTo(&out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "Name  测试 [31m者 甲\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMaskCitizenID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"330602199001011231", "330602********1231"},
		{"11010119900307451X", "110101********451X"},
		{"3306021990", "330602****"},
		{"33060", "33060"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := maskCitizenID(tt.in); got != tt.want {
			t.Errorf("maskCitizenID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
