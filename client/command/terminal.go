package command

import (
	"io"
	"os"
)

// isTerminal reports whether r is a terminal, where a clerk can answer a
// prompt: a character device other than the null device. Readers that are
// not files, such as a test's buffer, are not terminals.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	if err != nil || info.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(info, null)
}
