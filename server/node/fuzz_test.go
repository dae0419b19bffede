package node

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig: the YAML config file is outside input. Load never panics,
// and whatever it accepts is a valid configuration.
func FuzzLoadConfig(f *testing.F) {
	f.Add("listen: 127.0.0.1:7700\ndivision: \"330604\"\n")
	f.Add("rules:\n  endorsement_window_months: 2\n  cancel_reasons: [death, other]\n")
	f.Add("tls:\n  cert: node.pem\n  key: node.key\n  client_ca: ca.pem\nlimits:\n  mutations_per_second: 5\n  mutation_burst: 10\n")
	f.Add("log: {format: json, level: debug}\nunknown: 1\n")
	f.Add("division: [1, 2]\n")
	f.Add("\x00\xff")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, yaml string) {
		path := filepath.Join(dir, "permitd.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load([]string{"--config", path}, func(string) string { return "" }, io.Discard)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Load accepted an invalid config: %v", verr)
			}
		}
	})
}
