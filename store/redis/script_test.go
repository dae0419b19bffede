package redis

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// TestLuaSHA256 checks the SHA-256 of the scripts against crypto/sha256
// for every message length around the padding boundaries, on the server
// that TestStore's helper starts.
func TestLuaSHA256(t *testing.T) {
	url := startTestServer(t)
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	defer c.Close()
	sc := goredis.NewScript(prelude + "return sha256(ARGV[5])")
	ctx := context.Background()
	for n := range 300 {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i*7 + n)
		}
		got, err := sc.Run(ctx, c, []string{"{t}:x"}, "{t}:", "0", "", "", msg).Text()
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(msg)
		if !bytes.Equal([]byte(got), want[:]) {
			t.Fatalf("sha256 of %d bytes: got %x, want %x", n, got, want)
		}
	}
}

// TestVarint checks the scripts' varint against protobuf's for seqs
// around each 7-bit boundary.
func TestVarint(t *testing.T) {
	url := startTestServer(t)
	o, _ := goredis.ParseURL(url)
	c := goredis.NewClient(o)
	defer c.Close()
	sc := goredis.NewScript(prelude + "return varint(tonumber(ARGV[5]))")
	for _, n := range []uint64{0, 1, 127, 128, 255, 16383, 16384, 1<<21 - 1, 1 << 21, 1<<35 + 3, 1<<49 + 1} {
		got, err := sc.Run(context.Background(), c, []string{"{t}:x"}, "{t}:", "0", "", "", fmt.Sprint(n)).Text()
		if err != nil {
			t.Fatal(err)
		}
		if want := appendVarint(nil, n); got != string(want) {
			t.Fatalf("varint(%d) = %x, want %x", n, got, want)
		}
	}
}

// appendVarint is protobuf's base-128 varint.
func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
