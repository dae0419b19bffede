package trust

import (
	"bytes"
	"testing"
)

// fuzzNow is inside the validity of the test lists.
var fuzzNow = testNow

// samePayload reports whether a and b encode to the same payload.
func samePayload(t *testing.T, a, b *List) {
	t.Helper()
	pa, err := encodePayload(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := encodePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pa, pb) {
		t.Fatalf("lists differ:\n%x\n%x", pa, pb)
	}
}

// FuzzVerify checks that Verify never panics, and that whatever it accepts
// is a list that re-signs to the same content.
func FuzzVerify(f *testing.F) {
	good := mustSign(f, testList(3))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(tamper(good, len(good)/3))
	f.Add(good[1:])
	f.Add(mustCBOR(f, wireOf(f, testList(3))))
	f.Add(signRaw(f, map[string]any{"version": 2}, registryKey))
	f.Add([]byte{})
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Verify(data, registryKey.Public(), fuzzNow)
		if err != nil {
			if l != nil {
				t.Fatal("a list with an error")
			}
			return
		}
		if !fuzzNow.Before(l.ExpiresAt) {
			t.Fatal("accepted an expired list")
		}
		again, err := Verify(mustSign(t, l), registryKey.Public(), fuzzNow)
		if err != nil {
			t.Fatalf("an accepted list does not re-sign: %v", err)
		}
		samePayload(t, l, again)
	})
}

// FuzzDecodePayload fuzzes the payload decoder behind the signature, which
// FuzzVerify rarely reaches: it must not panic, and what it accepts must
// encode and decode to the same list.
func FuzzDecodePayload(f *testing.F) {
	f.Add(mustCBOR(f, wireOf(f, testList(3))))
	f.Add(mustCBOR(f, map[string]any{"version": 1}))
	f.Add(mustCBOR(f, map[string]any{"version": 1, "sequence": 1, "members": []any{}}))
	f.Add(mustCBOR(f, []any{1}))
	f.Add([]byte{0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01})
	f.Fuzz(func(t *testing.T, payload []byte) {
		l, err := decodePayload(payload)
		if err != nil {
			return
		}
		again, err := encodePayload(l)
		if err != nil {
			t.Fatalf("an accepted list does not encode: %v", err)
		}
		l2, err := decodePayload(again)
		if err != nil {
			t.Fatalf("an accepted list does not decode again: %v", err)
		}
		samePayload(t, l, l2)
	})
}
