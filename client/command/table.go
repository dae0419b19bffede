package command

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/mattn/go-runewidth"
)

// columnGap separates the columns of a table.
const columnGap = "  "

// table lays out rows of cells in columns aligned by display width, so that
// Chinese text, two columns wide per character, lines up.
type table struct {
	width *runewidth.Condition
	rows  [][]string
	// minWidths are the least widths of the first columns, so that tables
	// of one row written one after another (request watch) line up.
	minWidths []int
}

// add appends a row. Control characters in cells, which would break the
// layout or drive the terminal, are shown as spaces.
func (t *table) add(cells ...string) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, c)
	}
	t.rows = append(t.rows, row)
}

// writeTo writes the rows to w, padding every cell but the last of a row to
// the width of its column.
func (t *table) writeTo(w io.Writer) error {
	widths := slices.Clone(t.minWidths)
	for _, row := range t.rows {
		for i, c := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], t.width.StringWidth(c))
		}
	}
	var buf bytes.Buffer
	for _, row := range t.rows {
		var line strings.Builder
		for i, c := range row {
			if i > 0 {
				line.WriteString(columnGap)
			}
			line.WriteString(c)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-t.width.StringWidth(c)))
			}
		}
		buf.WriteString(strings.TrimRight(line.String(), " "))
		buf.WriteByte('\n')
	}
	_, err := w.Write(buf.Bytes())
	return err
}
