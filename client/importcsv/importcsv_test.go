package importcsv

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/yrd-epermit/epermit/citizenid"
)

var day = time.Date(2026, 3, 15, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))

// readAll reads every row of a file.
func readAll(t *testing.T, file string) []*Row {
	t.Helper()
	r, err := NewReader(strings.NewReader(file), day)
	if err != nil {
		t.Fatal(err)
	}
	var rows []*Row
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

const header = "citizen_id,name,ethnicity,hukou_address,residence_address,residence_start_date"

// TestGoodRows: a BOM, CRLF line ends, quoted fields with commas, quotes
// and a line break, Chinese text and optional columns that agree with the
// citizen id are read as written, numbered by the line they start on.
func TestGoodRows(t *testing.T) {
	ids := citizenid.NewGenerator(1)
	a, b, c := ids.Next(), ids.Next(), ids.Next()
	id, _ := citizenid.Parse(c, day)
	sex := map[bool]string{true: "女", false: "男"}[id.Sex == citizenid.Female]
	file := "\uFEFF" + header + ",sex,birth_date\r\n" +
		a + ",测试者甲,汉,\"安徽省合肥市蜀山区测试路1号, 2幢\",浙江省绍兴市上虞区曹娥街道测试小区2幢301室,2020-06-01,,\r\n" +
		b + ",\"测试者\"\"乙\"\"\",回,\"北京市东城区,测试胡同1号\",浙江省绍兴市上虞区测试路2号,2019-01-31,,\r\n" +
		c + ",测试者丙,壮,广西壮族自治区南宁市测试路3号,浙江省绍兴市上虞区测试路4号,2024-12-01," + sex + "," + id.BirthDateString() + "\r\n"
	rows := readAll(t, file)
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, want := range []struct {
		line  int64
		name  string
		hukou string
	}{{2, "测试者甲", "安徽省合肥市蜀山区测试路1号, 2幢"}, {3, `测试者"乙"`, "北京市东城区,测试胡同1号"}, {4, "测试者丙", "广西壮族自治区南宁市测试路3号"}} {
		r := rows[i]
		if r.Import == nil {
			t.Fatalf("row %d refused: %s", i, Explain(r.Reason, r.Message, r.Violations))
		}
		if r.Line != want.line || r.Import.Row != want.line || r.Import.Holder.Name != want.name || r.Import.Holder.HukouAddress != want.hukou {
			t.Errorf("row %d: line %d %v", i, r.Line, r.Import)
		}
	}
}

// TestBadRows: every kind of bad row is refused with its reason and the
// fields at fault, and the good rows around them are not.
func TestBadRows(t *testing.T) {
	ids := citizenid.NewGenerator(2)
	good := ids.Next()
	badCheck := good[:17] + map[bool]string{true: "1", false: "0"}[good[17] == '0']
	young := ids.NextWith(citizenid.Male, time.Date(2022, 5, 1, 0, 0, 0, 0, time.UTC))
	female := ids.NextWith(citizenid.Female, time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC))
	rest := ",汉,安徽省测试路1号,浙江省绍兴市上虞区测试路2号,"
	file := header + ",sex,birth_date\n" +
		good + ",测试者甲" + rest + "2020-06-01,,\n" +
		badCheck + ",测试者乙" + rest + "2020-06-01,,\n" +
		"12345,测试者乙" + rest + "2020-06-01,,\n" +
		ids.Next() + "," + rest + "2020-06-01,,\n" +
		ids.Next() + ",测试者丁" + rest + "2099-01-01,,\n" +
		young + ",测试者戊" + rest + "2021-01-01,,\n" +
		ids.Next() + ",测试者己" + rest + ",,\n" +
		ids.Next() + ",测试者庚" + rest + "2020-13-01,,\n" +
		female + ",测试者辛" + rest + "2020-06-01,男,\n" +
		female + ",测试者辛" + rest + "2020-06-01,,1990-01-03\n" +
		female + ",测试者辛" + rest + "2020-06-01,X,\n" +
		ids.Next() + ", 测试者壬" + rest + "2020-06-01,,\n" +
		ids.Next() + ",测试\x07者" + rest + "2020-06-01,,\n" +
		ids.Next() + ",测试者癸,汉,安徽省测试路1号," + strings.Repeat("路", 201) + ",2020-06-01,,\n" +
		ids.Next() + ",too,few\n" +
		ids.Next() + ",测试者,汉,\"安徽省\n测试路1号\",浙江省绍兴市上虞区测试路2号,2020-06-01,,\n" +
		good + ",测试者甲" + rest + "2021-06-01,,\n" +
		female + ",测试者辛" + rest + "2020-06-01,女,1990-01-02\n"
	want := []string{
		"",
		"INVALID_ROW holder.citizen_id:CHECK_DIGIT_MISMATCH",
		"INVALID_ROW holder.citizen_id:LENGTH",
		"INVALID_ROW holder.name:REQUIRED",
		"INVALID_ROW residence_start_date:IN_FUTURE",
		"INVALID_ROW residence_start_date:BEFORE_BIRTH",
		"INVALID_ROW residence_start_date:REQUIRED",
		"INVALID_ROW residence_start_date:DATE_FORMAT",
		"INVALID_ROW holder.sex:CONTRADICTS_CITIZEN_ID",
		"INVALID_ROW holder.birth_date:CONTRADICTS_CITIZEN_ID",
		"INVALID_ROW holder.sex:FORMAT",
		"INVALID_ROW holder.name:SURROUNDING_SPACE",
		"INVALID_ROW holder.name:CONTROL_CHARACTER",
		"INVALID_ROW residence_address:TOO_LONG",
		"COLUMN_COUNT",
		"INVALID_ROW holder.hukou_address:CONTROL_CHARACTER",
		"DUPLICATE_IN_FILE",
		"",
	}
	rows := readAll(t, file)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		got := r.Reason
		for _, v := range r.Violations {
			got += " " + v.Field + ":" + v.Reason
		}
		if got != want[i] || (got == "") != (r.Import != nil) {
			t.Errorf("line %d: %q (%s), want %q", r.Line, got, r.Message, want[i])
		}
	}
	if !strings.Contains(rows[16].Message, "line 2") || rows[16].Line != 19 {
		t.Errorf("duplicate on line %d names %q, want line 19 naming line 2", rows[16].Line, rows[16].Message)
	}
}

// TestHeader: a header that lacks a required column, names an unknown one
// or one twice is refused, naming it.
func TestHeader(t *testing.T) {
	for _, c := range []struct{ header, want string }{
		{"citizen_id,name,ethnicity,hukou_address,residence_address", "residence_start_date"},
		{header + ",phone", `unknown column "phone"`},
		{header + ",name", `"name" is named twice`},
		{"", "header"},
	} {
		if _, err := NewReader(strings.NewReader(c.header+"\n"), day); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("header %q: %v, want an error naming %s", c.header, err, c.want)
		}
	}
}

// TestScan: the identity of a file is its hash and row count; files that
// are not UTF-8 are refused with a hint at converting them.
func TestScan(t *testing.T) {
	file := "\uFEFF" + header + "\r\n1,2,3,4,5,6\r\n\"a\nb\",2,3,4,5,6\r\n"
	id, err := Scan(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if id.Rows != 2 || !id.BOM || len(id.SHA256) != 64 {
		t.Errorf("identity %+v", id)
	}
	if got := id.RequestID(12); got != "imp:"+id.SHA256[:20]+":00000012" {
		t.Errorf("request id %q", got)
	}
	other, _ := Scan(strings.NewReader(file + "x,2,3,4,5,6\r\n"))
	if other.SHA256 == id.SHA256 {
		t.Error("two files, one hash")
	}
	for name, c := range map[string]struct{ file, want string }{
		"utf-16":  {"\xFF\xFEc\x00i\x00", "UTF-16"},
		"gb18030": {header + "\n1,\xB2\xE2\xCA\xD4,3,4,5,6\n", "line 2 is not UTF-8"},
		"empty":   {"", "empty"},
	} {
		if _, err := Scan(strings.NewReader(c.file)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
