package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportRefusesBeforeSending: a bad --batch, a file that is not UTF-8,
// a header with an unknown column and a state file of another file stop
// import before it contacts the node (none runs here), with a message
// that says what to do.
func TestImportRefusesBeforeSending(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	header := "citizen_id,name,ethnicity,hukou_address,residence_address,residence_start_date\n"
	good := write("good.csv", header)
	write("good.csv.import.json", `{"sha256": "0000"}`)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"batch too large", []string{"import", good, "--yes", "--batch", "1001"}, exitUsage, "--batch must be between 1 and 1000"},
		{"no confirmation possible", []string{"import", good}, exitUsage, "--yes"},
		{"missing file", []string{"import", filepath.Join(dir, "none.csv"), "--yes"}, exitFailure, "no such file"},
		{"gbk", []string{"import", write("gbk.csv", header+"1,\xB2\xE2\xCA\xD4,3,4,5,6\n"), "--yes"}, exitFailure, "iconv -f GB18030"},
		{"utf-16", []string{"import", write("u16.csv", "\xFF\xFEc\x00"), "--yes"}, exitFailure, "UTF-16"},
		{"unknown column", []string{"import", write("phone.csv", strings.TrimSpace(header)+",phone\n"), "--yes"}, exitFailure, `unknown column "phone"`},
		{"state of another file", []string{"import", good, "--yes", "--resume"}, exitFailure, "of another file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, nil, append([]string{"--server", "127.0.0.1:1"}, c.args...)...)
			if r.code != c.code || r.err == nil || !strings.Contains(r.err.Error(), c.want) {
				t.Errorf("exit %d, %v; want exit %d with %q", r.code, r.err, c.code, c.want)
			}
			if c.name != "state of another file" {
				if _, err := os.Stat(c.args[1] + ".errors.csv"); err == nil {
					t.Errorf("an error file was made")
				}
			}
		})
	}
}
