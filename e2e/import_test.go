package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// residentsFile writes a CSV of n synthetic residents (with a BOM and CRLF
// line ends, as spreadsheet programs save it) to path, every tenth row
// from the 25th on bad in one of several ways, and row 3 the citizen of
// held. It returns the good citizen ids and the lines of the bad rows.
func residentsFile(t *testing.T, path string, n int, held string) (good []string, bad []int) {
	t.Helper()
	ids := citizenid.NewGenerator(uint64(n))
	var b strings.Builder
	b.WriteString("\uFEFFcitizen_id,name,ethnicity,hukou_address,residence_address,residence_start_date,sex\r\n")
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	first := ""
	for i := range n {
		line := i + 2
		id := ids.Next()
		if i == 0 {
			first = id
		}
		row := []string{id, fmt.Sprintf("测试者%d", i), "汉", "安徽省阜阳市测试县测试镇" + strconv.Itoa(i) + "号",
			"浙江省绍兴市上虞区百官街道测试路" + strconv.Itoa(i) + "号", "2021-06-01", ""}
		isBad := i == 1 || i >= 24 && i%10 == 4
		switch {
		case i == 1:
			row[0] = held // holds a permit already: refused by the node
		case isBad:
			switch (i / 10) % 4 {
			case 0:
				row[0] = id[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", id[17])+1)%11])
			case 1:
				row[1] = ""
			case 2:
				row[5] = "2099-01-01"
			case 3:
				row[0] = first // the first row's citizen again
			}
		}
		if isBad {
			bad = append(bad, line)
		} else {
			good = append(good, id)
		}
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return good, bad
}

// errorLines reads the error file: its header and the line of each row.
func errorLines(t *testing.T, path string) (header []string, lines []int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[1:] {
		if r[len(r)-1] == "" {
			t.Errorf("error row without a reason: %v", r)
		}
		n, err := strconv.Atoi(r[len(r)-2])
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, n)
	}
	return recs[0], lines
}

// importSummary is permitctl import -o json's output.
type importSummary struct {
	Imported, Replayed, Refused, Rows, Resumed int64
}

func summaryOf(t *testing.T, r ctlResult) importSummary {
	t.Helper()
	var s importSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("summary %q: %v\n%s", r.stdout, err, r.stderr)
	}
	return s
}

// TestPermitctlImport imports 2,000 synthetic residents with real permitd
// and permitctl processes: the error file holds exactly the bad rows with
// their reasons; permitctl killed midway and run again with --resume
// imports the rest without a duplicate; a second full run replays every
// row; a clerk may not import.
func TestPermitctlImport(t *testing.T) {
	n := startTestNode(t, "")
	st := n.staff()
	permits, _ := n.client()
	held := citizenid.NewGenerator(99).Next()
	if _, err := permits.IssuePermit(ctx(t), issueRequest("held-1", held)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := ctl{t: t, addr: n.addr, dir: dir, token: st.supervisor}
	file := filepath.Join(dir, "residents.csv")
	good, bad := residentsFile(t, file, 2000, held)

	if r := c.as(st.clerk).run("", "import", file, "--yes"); r.code != 1 || !strings.Contains(r.stderr, "PermissionDenied") && !strings.Contains(r.stderr, "may not call") {
		t.Fatalf("clerk import: exit %d, %s", r.code, r.stderr)
	}
	if r := c.run("", "import", file); r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("import without --yes and without a terminal: exit %d, %s", r.code, r.stderr)
	}

	// Started with small batches, killed once its first batch is recorded.
	cmd := exec.Command(permitctlBin, "import", file, "--yes", "--batch", "5")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PERMITCTL_SERVER="+n.addr, "XDG_CONFIG_HOME="+dir, "PERMITCTL_TOKEN="+st.supervisor)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	state := file + ".import.json"
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(state); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no state file after 60 s")
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	var saved struct {
		Line     int64 `json:"line"`
		Complete bool  `json:"complete"`
	}
	b, err := os.ReadFile(state)
	if err != nil || json.Unmarshal(b, &saved) != nil || saved.Complete || saved.Line < 2 {
		t.Fatalf("state after the kill: %s, %v (want an import stopped midway)", b, err)
	}

	resumed := c.run("", "import", file, "--yes", "--resume", "-o", "json")
	if resumed.code != 3 {
		t.Fatalf("resumed import: exit %d (want 3, rows refused)\n%s", resumed.code, resumed.stderr)
	}
	sum := summaryOf(t, resumed)
	if sum.Refused != int64(len(bad)) || sum.Imported+sum.Replayed != int64(len(good)) || sum.Resumed == 0 {
		t.Errorf("resumed import: %+v; want %d refused, %d imported or replayed, some resumed", sum, len(bad), len(good))
	}
	header, lines := errorLines(t, file+".errors.csv")
	if !slices.Equal(header[len(header)-2:], []string{"line", "reason"}) || !slices.Equal(lines, bad) {
		t.Errorf("error file: header %v, lines %v; want the bad lines %v", header, lines, bad)
	}

	// Every good citizen holds exactly one permit, and no other permit was made.
	count := map[string]int{}
	for page := ""; ; {
		resp, err := permits.ListPermits(ctx(t), &epermitv1.ListPermitsRequest{PageSize: 500, PageToken: page})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.Permits {
			count[p.Holder.CitizenId]++
		}
		if page = resp.NextPageToken; page == "" {
			break
		}
	}
	if len(count) != len(good)+1 {
		t.Errorf("%d citizens hold permits, want %d", len(count), len(good)+1)
	}
	for _, id := range append(good, held) {
		if count[id] != 1 {
			t.Errorf("citizen %s holds %d permits", id, count[id])
		}
	}

	// A second full run replays every good row and refuses the bad ones again.
	again := summaryOf(t, c.run("", "import", file, "--yes", "-o", "json"))
	if again.Imported != 0 || again.Replayed != int64(len(good)) || again.Refused != int64(len(bad)) {
		t.Errorf("second run: %+v; want %d replayed, %d refused", again, len(good), len(bad))
	}
	if _, lines := errorLines(t, file+".errors.csv"); !slices.Equal(lines, bad) {
		t.Errorf("error file of the second run: lines %v, want %v", lines, bad)
	}
}
