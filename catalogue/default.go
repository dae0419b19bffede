package catalogue

import (
	_ "embed"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the shipped default catalogue, comments
// included: a starting point for a city's own file.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns a fresh copy of the catalogue shipped with epermit: the
// six scenarios, their services and rules, and eleven departments. It
// panics if the embedded file does not parse, which the package's tests
// rule out.
func Default() *Catalogue {
	c, err := Parse(defaultYAML)
	if err != nil {
		panic("catalogue: default.yaml: " + err.Error())
	}
	return c
}
