package importcsv

import (
	"os"
	"testing"
)

// TestExampleFile: the example in testdata (docs/import.md) reads as the
// documentation says: five good rows and one refused.
func TestExampleFile(t *testing.T) {
	b, err := os.ReadFile("testdata/residents.csv")
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, string(b))
	refused := 0
	for _, r := range rows {
		if r.Import == nil {
			refused++
			if r.Line != 7 || r.Reason != ReasonInvalidRow {
				t.Errorf("line %d refused: %s", r.Line, Explain(r.Reason, r.Message, r.Violations))
			}
		}
	}
	if len(rows) != 6 || refused != 1 {
		t.Errorf("%d rows, %d refused; want 6 and 1", len(rows), refused)
	}
}
