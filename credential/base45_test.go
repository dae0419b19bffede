package credential

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// base45Examples are the examples of RFC 9285, sections 4.3 and 4.4.
var base45Examples = []struct{ plain, encoded string }{
	{"", ""},
	{"AB", "BB8"},
	{"Hello!!", "%69 VD92EX0"},
	{"base-45", "UJCLQE7W581"},
	{"ietf!", "QED8WEX0"},
}

func TestBase45Examples(t *testing.T) {
	for _, ex := range base45Examples {
		if got := string(appendBase45(nil, []byte(ex.plain))); got != ex.encoded {
			t.Errorf("encode %q = %q, want %q", ex.plain, got, ex.encoded)
		}
		got, err := appendBase45Decode(nil, ex.encoded)
		if err != nil || string(got) != ex.plain {
			t.Errorf("decode %q = %q, %v, want %q", ex.encoded, got, err, ex.plain)
		}
	}
}

func TestBase45Invalid(t *testing.T) {
	tests := []struct{ in, want string }{
		{"A", "single character over"},
		{"BB8A", "single character over"},
		{"bb8", `invalid character "b" at position 0`},
		{"BB#", `invalid character "#" at position 2`},
		{"QED8WEX\x00", `invalid character "\x00" at position 7`},
		{"BB8\xe4\xb8\xad", `invalid character "\xe4" at position 3`},
		{"FGW", ""},          // 65535, the largest value of three characters
		{"GGW", "too large"}, // 65536
		{":::", "too large"},
		{"BB8:::", "position 3 encode a value too large"},
		{"U5", ""},          // 255, the largest value of two characters
		{"V5", "too large"}, // 256
		{"::", "too large"},
	}
	for _, tt := range tests {
		_, err := appendBase45Decode(nil, tt.in)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("decode %q: %v", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("decode %q: error %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}

func TestBase45RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(r.UintN(256))
		}
		enc := appendBase45([]byte("x"), src)
		got, err := appendBase45Decode([]byte("y"), string(enc[1:]))
		if err != nil || !bytes.Equal(got[1:], src) || got[0] != 'y' {
			t.Fatalf("%d bytes: %x -> %q -> %x, %v", n, src, enc, got, err)
		}
	}
}

func FuzzBase45Decode(f *testing.F) {
	for _, ex := range base45Examples {
		f.Add(ex.encoded)
	}
	f.Add("FGW")
	f.Add("GGW")
	f.Add("U5")
	f.Add("A")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := appendBase45Decode(nil, s)
		if err != nil {
			return
		}
		if enc := string(appendBase45(nil, got)); enc != s {
			t.Fatalf("%q decodes to %x, which encodes to %q", s, got, enc)
		}
	})
}
