package trust

import (
	"bytes"
	"errors"
	"testing"

	"github.com/yrd-epermit/epermit/store/redis"
	"github.com/yrd-epermit/epermit/store/redis/redistest"
)

// TestSync: two holders share their list through a real redis-server
// (store/redis): each adopts the other's newer list, the shared list is
// replaced only by a greater sequence or when it does not verify, and a
// list of the same sequence is left alone.
func TestSync(t *testing.T) {
	ctx := t.Context()
	st, err := redis.Open(ctx, redis.Options{URL: redistest.Start(t).URL(), Division: "330604"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	holder := func(seq uint64) *Holder {
		h, err := NewHolder(HolderConfig{Registry: registryKey.Public(), Clock: newFakeClock(testNow).now})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Load(mustSign(t, testList(seq))); err != nil {
			t.Fatal(err)
		}
		return h
	}
	shared := func() []byte {
		t.Helper()
		data, err := st.SharedTrustList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	place := func(data []byte) {
		t.Helper()
		if ok, err := st.ShareTrustList(ctx, data, shared()); !ok || err != nil {
			t.Fatalf("placing a list: %v, %v", ok, err)
		}
	}
	sync := func(h *Holder) error {
		t.Helper()
		err := h.Sync(ctx)
		if err != nil && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrRegistryKey) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Sync: %v", err)
		}
		return err
	}

	a, b := holder(5), holder(4)
	if err := a.Share(ctx, st); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared(), mustSign(t, testList(5))) {
		t.Fatal("the first holder did not share its list")
	}
	if err := b.Share(ctx, st); err != nil || b.Current().Sequence != 5 {
		t.Fatalf("the holder with list 4 holds %d after Share (%v), want 5", b.Current().Sequence, err)
	}
	if err := b.Load(mustSign(t, testList(6))); err != nil {
		t.Fatal(err)
	}
	sync(b)
	sync(a)
	if a.Current().Sequence != 6 {
		t.Fatalf("the first holder holds %d after b shared 6", a.Current().Sequence)
	}
	six := shared()

	sameSeq := testList(6)
	sameSeq.Members = sameSeq.Members[:2]
	place(mustSign(t, sameSeq))
	if err := sync(a); err != nil || !bytes.Equal(shared(), mustSign(t, sameSeq)) || a.Current().Sequence != 6 {
		t.Fatalf("a list of the same sequence: %v; it should be left alone", err)
	}

	tampered := bytes.Clone(six)
	tampered[len(tampered)-1] ^= 1
	other, err := Sign(testList(99), otherKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{"older": mustSign(t, testList(3)), "tampered": tampered,
		"signed by another key": other, "garbage": []byte("not a list")} {
		place(bad)
		err := sync(a)
		if (name == "older") != (err == nil) {
			t.Errorf("%s: Sync = %v", name, err)
		}
		if !bytes.Equal(shared(), six) || a.Current().Sequence != 6 {
			t.Fatalf("%s: the shared list was not replaced by list 6, or the holder changed (%d)", name, a.Current().Sequence)
		}
	}
}
