package e2e

import (
	"os/exec"
	"testing"
	"time"
)

// runPermitd runs permitd to completion (for start-up failures) with a time
// limit, returning its combined output.
func runPermitd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(permitdBin, args...)
	cmd.Dir = t.TempDir()
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := cmd.CombinedOutput()
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return string(r.out), r.err
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		r := <-done
		t.Fatalf("permitd %v kept running:\n%s", args, r.out)
		return "", nil
	}
}
