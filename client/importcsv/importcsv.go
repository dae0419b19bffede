// Package importcsv reads the CSV file of existing residents that
// "permitctl import" brings into a node (docs/import.md): UTF-8, with or
// without a byte-order mark, a header naming the columns, one resident a
// row. It checks every row as the node checks a row of ImportPermits
// (server/validate), and refuses a citizen's second row in the file.
package importcsv

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yrd-epermit/epermit/server/apierror"
	"github.com/yrd-epermit/epermit/server/validate"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// The columns of the file. Required ones must be in the header; the
// others may be.
const (
	ColCitizenID          = "citizen_id"
	ColName               = "name"
	ColEthnicity          = "ethnicity"
	ColHukouAddress       = "hukou_address"
	ColResidenceAddress   = "residence_address"
	ColResidenceStartDate = "residence_start_date"
	ColSex                = "sex"
	ColBirthDate          = "birth_date"
)

// Required are the columns every file has; Optional those it may have.
var (
	Required = []string{ColCitizenID, ColName, ColEthnicity, ColHukouAddress, ColResidenceAddress, ColResidenceStartDate}
	Optional = []string{ColSex, ColBirthDate}
)

// Reasons a row is refused before it is sent.
const (
	// ReasonInvalidRow: a field fails the node's checks (Row.Violations).
	ReasonInvalidRow = "INVALID_ROW"
	// ReasonDuplicateInFile: an earlier row of the file is the same
	// citizen's, and one citizen holds one permit.
	ReasonDuplicateInFile = "DUPLICATE_IN_FILE"
	// ReasonColumnCount: the row has another number of fields than the
	// header.
	ReasonColumnCount = "COLUMN_COUNT"
)

// bom is the UTF-8 byte-order mark that spreadsheet programs write.
var bom = []byte{0xEF, 0xBB, 0xBF}

// Row is one row of the file.
type Row struct {
	// Line is the file's line on which the row starts (the header is line
	// 1); it numbers the row in results and request ids.
	Line int64
	// Fields are the row's fields as read.
	Fields []string
	// Import is the row to send; nil when the row was refused here.
	Import *epermitv1.ImportRow
	// Reason and Message say why the row was refused here.
	Reason, Message string
	// Violations are the bad fields of an INVALID_ROW.
	Violations []*epermitv1.ImportFieldViolation
}

// Identity is what Scan learns of a whole file.
type Identity struct {
	// SHA256 is the hash of the file's bytes, hex.
	SHA256 string
	// Rows is the number of data rows.
	Rows int64
	// BOM says that the file starts with a UTF-8 byte-order mark.
	BOM bool
}

// RequestID is the request id of the row on line of a file with this
// identity: "imp:", 20 hex digits of the file's hash, ":" and the line in
// 8 digits, so that an import of the same file again replays its rows,
// and ids of one file sort in line order.
func (id Identity) RequestID(line int64) string {
	return fmt.Sprintf("imp:%s:%08d", id.SHA256[:20], line)
}

// Scan reads the whole file once: its hash, its number of rows, and
// whether it is UTF-8 text. A file in another encoding (UTF-16, or GBK
// and other legacy encodings, which are not valid UTF-8) is refused with
// an error that says how to convert it.
func Scan(r io.Reader) (Identity, error) {
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(r, h), 64<<10)
	var id Identity
	head, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(head, bom):
		id.BOM = true
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return Identity{}, errors.New("the file is UTF-16; save it as UTF-8 (CSV UTF-8 in a spreadsheet program)")
	}
	rd := csv.NewReader(br)
	rd.FieldsPerRecord = -1
	rd.ReuseRecord = true
	line := 1
	for n := int64(0); ; n++ {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			id.Rows = n - 1
			break
		}
		if err != nil {
			return Identity{}, fmt.Errorf("not a CSV file: %w", err)
		}
		line, _ = rd.FieldPos(0)
		for _, f := range rec {
			if !utf8.ValidString(f) {
				return Identity{}, fmt.Errorf("line %d is not UTF-8 text: the file must be UTF-8 "+
					"(a file in GBK or GB18030 converts with: iconv -f GB18030 -t UTF-8 in.csv > out.csv)", line)
			}
		}
	}
	if id.Rows < 0 {
		return Identity{}, errors.New("the file is empty: it needs a header line naming the columns")
	}
	id.SHA256 = hex.EncodeToString(h.Sum(nil))
	return id, nil
}

// Reader reads the rows of a file and checks them.
type Reader struct {
	rd     *csv.Reader
	header []string
	cols   map[string]int
	day    time.Time
	// seen maps each citizen id of a row checked good to its line.
	seen map[string]int64
}

// NewReader reads the header of the file in r and returns a Reader of its
// rows, checked as of day (China Standard Time). It fails when a required
// column is missing, a column is unknown or named twice.
func NewReader(r io.Reader, day time.Time) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(3); bytes.HasPrefix(head, bom) {
		br.Discard(len(bom))
	}
	rd := csv.NewReader(br)
	rd.FieldsPerRecord = -1
	header, err := rd.Read()
	if err != nil {
		return nil, fmt.Errorf("read the header line: %w", err)
	}
	known := append(slices.Clone(Required), Optional...)
	cols := make(map[string]int, len(header))
	for i, name := range header {
		name = strings.TrimSpace(name)
		switch _, dup := cols[name]; {
		case !slices.Contains(known, name):
			return nil, fmt.Errorf("unknown column %q in the header; the columns are %s (docs/import.md)", name, strings.Join(known, ", "))
		case dup:
			return nil, fmt.Errorf("column %q is named twice in the header", name)
		}
		cols[name] = i
	}
	var missing []string
	for _, name := range Required {
		if _, ok := cols[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the header lacks the required column(s) %s", strings.Join(missing, ", "))
	}
	return &Reader{rd: rd, header: header, cols: cols, day: validate.Today(day), seen: map[string]int64{}}, nil
}

// Header returns the header's fields as read.
func (r *Reader) Header() []string { return r.header }

// Next returns the next row, checked, or io.EOF after the last. A row
// that fails a check is returned with its reason and without Import;
// only a file that is not CSV fails Next.
func (r *Reader) Next() (*Row, error) {
	rec, err := r.rd.Read()
	if err != nil {
		return nil, err
	}
	line, _ := r.rd.FieldPos(0)
	row := &Row{Line: int64(line), Fields: rec}
	if len(rec) != len(r.header) {
		row.Reason = ReasonColumnCount
		row.Message = fmt.Sprintf("the row has %d fields, the header %d", len(rec), len(r.header))
		return row, nil
	}
	field := func(name string) string {
		if i, ok := r.cols[name]; ok {
			return rec[i]
		}
		return ""
	}
	var v apierror.Violations
	h := &epermitv1.Holder{
		Name: field(ColName), CitizenId: field(ColCitizenID), Ethnicity: field(ColEthnicity),
		HukouAddress: field(ColHukouAddress), BirthDate: field(ColBirthDate),
	}
	switch s := strings.ToLower(field(ColSex)); s {
	case "":
	case "男", "m", "male":
		h.Sex = epermitv1.Sex_SEX_MALE
	case "女", "f", "female":
		h.Sex = epermitv1.Sex_SEX_FEMALE
	default:
		v.Add("holder.sex", "FORMAT", "must be 男 or 女 (M or F), or empty")
	}
	start := field(ColResidenceStartDate)
	validate.IssueFields(&v, h, field(ColResidenceAddress), start, r.day)
	if start == "" {
		v.Add("residence_start_date", "REQUIRED", "is required: the start of residence on the paper permit, from which the residence years count")
	}
	if !v.Empty() {
		row.Reason, row.Message = ReasonInvalidRow, "the row is invalid"
		for _, f := range v.Fields() {
			row.Violations = append(row.Violations, &epermitv1.ImportFieldViolation{Field: f.Field, Reason: f.Reason, Description: f.Description})
		}
		return row, nil
	}
	if first, ok := r.seen[h.CitizenId]; ok {
		row.Reason = ReasonDuplicateInFile
		row.Message = fmt.Sprintf("the citizen's row on line %d comes first: one citizen holds one permit", first)
		return row, nil
	}
	r.seen[h.CitizenId] = row.Line
	row.Import = &epermitv1.ImportRow{Row: row.Line, Holder: h, ResidenceAddress: field(ColResidenceAddress), ResidenceStartDate: start}
	return row, nil
}

// Explain is the reason column of the error file: the reason, the message
// and each bad field.
func Explain(reason, message string, violations []*epermitv1.ImportFieldViolation) string {
	var b strings.Builder
	b.WriteString(reason)
	if message != "" {
		b.WriteString(": " + message)
	}
	for _, f := range violations {
		fmt.Fprintf(&b, "; %s %s: %s", f.Field, f.Reason, f.Description)
	}
	return b.String()
}
