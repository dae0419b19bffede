package command

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMain keeps the tests from the environment of whoever runs them: no
// PERMITCTL_ variables, and a home and config directory of their own, so
// that a config file of the developer's is never read.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "PERMITCTL_") {
			os.Unsetenv(name)
		}
	}
	home, err := os.MkdirTemp("", "permitctl-test-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("HOME", home)
	os.Setenv("XDG_CONFIG_HOME", home+"/.config")
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}
