package node

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestBadRuleStopsTheNode: a city rule that does not compile, or a
// department the catalogue does not know, stops the node at start with a
// message naming it.
func TestBadRuleStopsTheNode(t *testing.T) {
	for name, tt := range map[string]struct{ yaml, want string }{
		"typo in a rule": {`
catalogue:
  scenarios:
    - code: employment
      services:
        - code: unemployment_registration
          name_zh: 失业登记
          name_en: Unemployment registration
          department: hrss
          department_fields: [holder.name]
          rules:
            - version: "2027"
              effective_from: "2027-01-01"
              conditions:
                - {description: 年满16周岁, expression: holder.agee_years >= 16}
`, `service unemployment_registration rule 2027`},
		"unknown department": {"departments:\n  weather: {endpoint: \"127.0.0.1:7800\"}\n", `"weather" is not a department`},
	} {
		cfg := DefaultConfig()
		cfg.Listen, cfg.Data, cfg.Log.Level = "127.0.0.1:0", t.TempDir(), "error"
		if err := yaml.Unmarshal([]byte(tt.yaml), &cfg); err != nil {
			t.Fatal(err)
		}
		if n, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			if n != nil {
				n.lis.Close()
			}
			t.Errorf("%s: New = %v, want an error naming %s", name, err, tt.want)
		}
	}
}
