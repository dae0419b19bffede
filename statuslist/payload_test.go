package statuslist

import (
	"bytes"
	"compress/zlib"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// listFields returns the fields of a valid list payload as generic maps,
// for tests to break one at a time.
func listFields(t *testing.T, packed []byte) (map[any]any, map[any]any) {
	t.Helper()
	lst, err := compress(packed)
	if err != nil {
		t.Fatal(err)
	}
	claim := map[any]any{"v": 1, "version": 3, "size": uint64(len(packed) * 2), "bits": 4, "lst": lst}
	return map[any]any{1: testIssuer, 4: t0.Add(time.Hour).Unix(), 6: t0.Unix(), -65538: claim}, claim
}

func zlibOf(t *testing.T, b []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, level)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestVerifyPayload(t *testing.T) {
	key := edKey(1)
	packed := make([]byte, MinSize/2)
	packed[5] = 0x21
	enc := func(m map[any]any) []byte {
		b, err := payloadEnc.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		change func(p, c map[any]any)
		raw    func(payload []byte) []byte // applied after encoding
		want   error
	}{
		{name: "valid", change: func(p, c map[any]any) {}},
		{name: "best-compressed lst is fine too", change: func(p, c map[any]any) { c["lst"] = zlibOf(t, packed, zlib.BestCompression) }},
		{name: "unknown keys ignored", change: func(p, c map[any]any) { p[99] = "x"; c["new"] = 1 }},
		{name: "iat missing", change: func(p, c map[any]any) { delete(p, 6) }, want: ErrFormat},
		{name: "exp missing", change: func(p, c map[any]any) { delete(p, 4) }, want: ErrFormat},
		{name: "exp before iat", change: func(p, c map[any]any) { p[4] = t0.Unix() - 1 }, want: ErrFormat},
		{name: "iat as text", change: func(p, c map[any]any) { p[6] = "2026-06-01" }, want: ErrFormat},
		{name: "issuer not a division code", change: func(p, c map[any]any) { p[1] = "3306" }, want: ErrFormat},
		{name: "issuer missing", change: func(p, c map[any]any) { delete(p, 1) }, want: ErrFormat},
		{name: "list claim missing", change: func(p, c map[any]any) { delete(p, -65538) }, want: ErrFormat},
		{name: "list claim under the credential's key", change: func(p, c map[any]any) { p[-65537] = c; delete(p, -65538) }, want: ErrFormat},
		{name: "v missing", change: func(p, c map[any]any) { delete(c, "v") }, want: ErrFormat},
		{name: "v 2", change: func(p, c map[any]any) { c["v"] = 2 }, want: ErrFormat},
		{name: "version 0", change: func(p, c map[any]any) { c["version"] = 0 }, want: ErrFormat},
		{name: "version negative", change: func(p, c map[any]any) { c["version"] = -1 }, want: ErrFormat},
		{name: "bits 3", change: func(p, c map[any]any) { c["bits"] = 3 }, want: ErrFormat},
		{name: "bits missing", change: func(p, c map[any]any) { delete(c, "bits") }, want: ErrFormat},
		{name: "size below minimum", change: func(p, c map[any]any) { c["size"] = MinSize / 2 }, want: ErrFormat},
		{name: "size not a power of two", change: func(p, c map[any]any) { c["size"] = MinSize + 2 }, want: ErrFormat},
		{name: "size above maximum", change: func(p, c map[any]any) { c["size"] = 2 * MaxSize }, want: ErrFormat},
		{name: "size larger than lst", change: func(p, c map[any]any) { c["size"] = 2 * MinSize }, want: ErrFormat},
		{name: "size as text", change: func(p, c map[any]any) { c["size"] = "131072" }, want: ErrFormat},
		{name: "lst missing", change: func(p, c map[any]any) { delete(c, "lst") }, want: ErrFormat},
		{name: "lst not zlib", change: func(p, c map[any]any) { c["lst"] = packed }, want: ErrFormat},
		{name: "lst one byte short", change: func(p, c map[any]any) { c["lst"] = zlibOf(t, packed[1:], zlib.HuffmanOnly) }, want: ErrFormat},
		{name: "lst one byte long", change: func(p, c map[any]any) { c["lst"] = zlibOf(t, append(packed, 0), zlib.HuffmanOnly) }, want: ErrFormat},
		{name: "byte after the zlib stream", change: func(p, c map[any]any) { c["lst"] = append(zlibOf(t, packed, 1), 0) }, want: ErrFormat},
		{name: "zlib checksum wrong", change: func(p, c map[any]any) {
			z := zlibOf(t, packed, 1)
			z[len(z)-1] ^= 1
			c["lst"] = z
		}, want: ErrFormat},
		{name: "lst as text", change: func(p, c map[any]any) { c["lst"] = "x" }, want: ErrFormat},
		{name: "tag inside", change: func(p, c map[any]any) { c["lst"] = cbor.Tag{Number: 24, Content: c["lst"]} }, want: ErrFormat},
		{name: "duplicate key", change: func(p, c map[any]any) {}, raw: func(b []byte) []byte {
			return append(append([]byte{0xa5}, b[1:]...), 0x01, 0x66, '3', '3', '0', '6', '0', '4')
		}, want: ErrFormat},
		{name: "indefinite-length map", change: func(p, c map[any]any) {}, raw: func(b []byte) []byte {
			return append(append([]byte{0xbf}, b[1:]...), 0xff)
		}, want: ErrFormat},
		{name: "not a map", change: func(p, c map[any]any) {}, raw: func(b []byte) []byte { return []byte{0x80} }, want: ErrFormat},
		{name: "trailing byte", change: func(p, c map[any]any) {}, raw: func(b []byte) []byte { return append(b, 0) }, want: ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := listFields(t, packed)
			tt.change(p, c)
			payload := enc(p)
			if tt.raw != nil {
				payload = tt.raw(payload)
			}
			s, err := Verify(signPayload(t, key, TypeList, payload), key.Public(), t0)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v; want %v", err, tt.want)
			}
			if err == nil {
				if got, _ := s.Get(10); got != Valid {
					t.Errorf("entry 10 = %v, want valid", got)
				}
				if got, _ := s.Get(11); got != Suspended {
					t.Errorf("entry 11 = %v, want suspended", got)
				}
			}
		})
	}
}

func TestVerifyNotModifiedPayload(t *testing.T) {
	key := edKey(1)
	valid := func() (map[any]any, map[any]any) {
		c := map[any]any{"v": 1, "version": 3, "size": MinSize, "sha256": make([]byte, 32)}
		return map[any]any{1: testIssuer, 4: t0.Add(time.Hour).Unix(), 6: t0.Unix(), -65539: c}, c
	}
	tests := []struct {
		name   string
		change func(p, c map[any]any)
		want   error
	}{
		{"valid", func(p, c map[any]any) {}, nil},
		{"digest missing", func(p, c map[any]any) { delete(c, "sha256") }, ErrFormat},
		{"digest short", func(p, c map[any]any) { c["sha256"] = make([]byte, 31) }, ErrFormat},
		{"version 0", func(p, c map[any]any) { c["version"] = 0 }, ErrFormat},
		{"size missing", func(p, c map[any]any) { delete(c, "size") }, ErrFormat},
		{"v missing", func(p, c map[any]any) { delete(c, "v") }, ErrFormat},
		{"claim missing", func(p, c map[any]any) { delete(p, -65539) }, ErrFormat},
		{"claim under the list's key", func(p, c map[any]any) { p[-65538] = c; delete(p, -65539) }, ErrFormat},
		{"issuer bad", func(p, c map[any]any) { p[1] = 330604 }, ErrFormat},
		{"iat missing", func(p, c map[any]any) { delete(p, 6) }, ErrFormat},
		{"expired", func(p, c map[any]any) { p[4] = t0.Unix() }, ErrExpired},
		{"future", func(p, c map[any]any) { p[6] = t0.Add(time.Hour).Unix(); p[4] = t0.Add(2 * time.Hour).Unix() }, ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := valid()
			tt.change(p, c)
			payload, err := payloadEnc.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			data := signPayload(t, key, TypeNotModified, payload)
			if _, err := VerifyNotModified(data, key.Public(), t0); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyNotModified = %v; want %v", err, tt.want)
			}
			// Whatever it holds, it is never a list.
			if _, err := Verify(data, key.Public(), t0); !errors.Is(err, ErrFormat) {
				t.Errorf("Verify of a not-modified answer = %v, want ErrFormat", err)
			}
		})
	}
}
