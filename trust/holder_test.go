package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := new(fakeClock)
	c.set(t)
	return c
}

func (c *fakeClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

func newTestHolder(t *testing.T, clock *fakeClock) *Holder {
	t.Helper()
	h, err := NewHolder(HolderConfig{Registry: registryKey.Public(), Clock: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewHolderRefusesBadKey(t *testing.T) {
	for _, key := range []any{nil, putuoKey.Public(), registryKey} {
		if _, err := NewHolder(HolderConfig{Registry: key}); err == nil {
			t.Errorf("NewHolder accepted a %T", key)
		}
	}
}

func TestHolderLoad(t *testing.T) {
	clock := newFakeClock(testNow)
	h := newTestHolder(t, clock)
	if h.Current() != nil {
		t.Fatal("a new holder has a list")
	}
	seq5 := mustSign(t, testList(5))
	if err := h.Load(seq5); err != nil {
		t.Fatal(err)
	}
	first := h.Current()
	if first == nil || first.Sequence != 5 {
		t.Fatalf("Current() = %+v", first)
	}
	other5 := testList(5)
	other5.Members[0].Name = "上虞区"
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"same bytes again", seq5, nil, ""},
		{"older", mustSign(t, testList(4)), ErrStale, "sequence 4 is older than the current list's 5"},
		{"equal sequence, other content", mustSign(t, other5), ErrStale, "has the current sequence 5 but other content"},
		{"wrong signature", signRaw(t, wireOf(t, testList(9)), otherKey), ErrRegistryKey, ""},
		{"tampered", tamper(mustSign(t, testList(9)), 40), ErrSignature, ""},
		{"garbage", []byte("garbage"), ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Load(tt.data)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) || err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Load = %v, want %v saying %q", err, tt.want, tt.msg)
			}
			if h.Current() != first {
				t.Error("the current list changed")
			}
		})
	}
	if err := h.Load(mustSign(t, testList(6))); err != nil {
		t.Fatal(err)
	}
	if got := h.Current().Sequence; got != 6 {
		t.Errorf("sequence %d after loading 6", got)
	}
	// Once the list expires, Current has none, and an older list still
	// cannot come back.
	clock.set(expiresAt)
	if l := h.Current(); l != nil {
		t.Errorf("Current() = list %d after its expiry", l.Sequence)
	}
	old := testList(5)
	old.ExpiresAt = expiresAt.AddDate(1, 0, 0)
	if err := h.Load(mustSign(t, old)); !errors.Is(err, ErrStale) {
		t.Errorf("Load of an older list after expiry = %v", err)
	}
	if err := h.Load(mustSign(t, testList(7))); !errors.Is(err, ErrExpired) {
		t.Errorf("Load of an expired list = %v", err)
	}
	res := h.VerifyCredential(signCredential(t, "330604", shangyuKey, issuedAt), expiresAt)
	if res.Valid() || !strings.Contains(res.Findings[len(res.Findings)-1].Detail, "expired") {
		t.Errorf("VerifyCredential with an expired list: %+v", res.Findings)
	}
}

func TestHolderConcurrent(t *testing.T) {
	h := newTestHolder(t, newFakeClock(testNow))
	const lists = 20
	data := make([][]byte, lists+1)
	for seq := 1; seq <= lists; seq++ {
		data[seq] = mustSign(t, testList(uint64(seq)))
	}
	text := signCredential(t, "330604", shangyuKey, issuedAt)
	if err := h.Load(data[1]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Readers: the sequence they see never goes down.
	for range 4 {
		wg.Go(func() {
			last := uint64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				l := h.Current()
				if l.Sequence < last {
					t.Errorf("sequence went from %d to %d", last, l.Sequence)
					return
				}
				last = l.Sequence
				if _, ok := l.Member("330604"); !ok {
					t.Error("member missing")
					return
				}
				if res := h.VerifyCredential(text, testNow); !res.Valid() {
					t.Errorf("credential did not verify: %+v", res.Findings)
					return
				}
			}
		})
	}
	// Writers: load every list, in a shuffled order; each is accepted at
	// most once.
	var accepted atomic.Int64
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := range lists {
				seq := (i*7+w*3)%lists + 1
				err := h.Load(data[seq])
				switch {
				case err == nil:
					accepted.Add(1)
				case !errors.Is(err, ErrStale):
					t.Errorf("Load(%d) = %v", seq, err)
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	if got := h.Current().Sequence; got != lists {
		t.Errorf("final sequence %d, want %d", got, lists)
	}
	if accepted.Load() < 1 {
		t.Error("no list accepted")
	}
}

// logBuffer is a concurrency-safe buffer for a slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) count(s string) int { return strings.Count(b.String(), s) }

// waitFor polls cond until it holds or a few seconds have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// writeAtomic replaces path with data, as an operator's deploy would.
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func sequenceOf(h *Holder) uint64 {
	if l := h.Current(); l != nil {
		return l.Sequence
	}
	return 0
}

func TestWatch(t *testing.T) {
	h := newTestHolder(t, newFakeClock(testNow))
	path := filepath.Join(t.TempDir(), "trustlist.cose")
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.Watch(ctx, path, 5*time.Millisecond, log)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// No file yet: one error, logged once.
	waitFor(t, "the missing file to be logged", func() bool { return logs.count("no such file") > 0 })
	time.Sleep(30 * time.Millisecond)
	if n := logs.count("no such file"); n != 1 {
		t.Errorf("the missing file was logged %d times", n)
	}

	writeAtomic(t, path, mustSign(t, testList(2)))
	waitFor(t, "list 2", func() bool { return sequenceOf(h) == 2 })
	waitFor(t, "list 2 to be logged", func() bool { return logs.count("trust list loaded") == 1 })

	// A stale list is refused, logged once, and list 2 stays.
	writeAtomic(t, path, mustSign(t, testList(1)))
	waitFor(t, "the stale list to be refused", func() bool { return logs.count("sequence 1 is older") > 0 })
	time.Sleep(30 * time.Millisecond)
	if n := logs.count("sequence 1 is older"); n != 1 {
		t.Errorf("the stale list was logged %d times", n)
	}
	if got := sequenceOf(h); got != 2 {
		t.Errorf("sequence %d after a stale list, want 2", got)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("the stale list was not a warning:\n%s", logs.String())
	}

	// A list signed by someone else is refused too.
	writeAtomic(t, path, signRaw(t, wireOf(t, testList(8)), otherKey))
	waitFor(t, "the foreign list to be refused", func() bool { return logs.count("not signed by the registry key") > 0 })
	if got := sequenceOf(h); got != 2 {
		t.Errorf("sequence %d after a foreign list, want 2", got)
	}

	writeAtomic(t, path, mustSign(t, testList(3)))
	waitFor(t, "list 3", func() bool { return sequenceOf(h) == 3 })
	if n := logs.count("trust list loaded"); n != 2 {
		t.Errorf("%d lists logged as loaded, want 2:\n%s", n, logs.String())
	}
}

func TestWatchLogsExpiry(t *testing.T) {
	clock := newFakeClock(testNow)
	h := newTestHolder(t, clock)
	path := filepath.Join(t.TempDir(), "trustlist.cose")
	writeAtomic(t, path, mustSign(t, testList(1)))
	if err := h.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Watch(ctx, path, 5*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	clock.set(expiresAt)
	waitFor(t, "the expiry to be logged", func() bool { return logs.count("has expired") > 0 })
	time.Sleep(30 * time.Millisecond)
	if n := logs.count("the current trust list has expired"); n != 1 {
		t.Errorf("the expiry was logged %d times:\n%s", n, logs.String())
	}
}

func TestWatchURL(t *testing.T) {
	var mu sync.Mutex
	serving := mustSign(t, testList(1))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/trustlist.cose" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", `application/cose; cose-type="cose-sign1"`)
		w.Write(serving)
	}))
	defer srv.Close()
	serve := func(data []byte) {
		mu.Lock()
		defer mu.Unlock()
		serving = data
	}

	h := newTestHolder(t, newFakeClock(testNow))
	var logs logBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.WatchURL(ctx, srv.URL+"/trustlist.cose", srv.Client(), 5*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "list 1", func() bool { return sequenceOf(h) == 1 })
	serve(mustSign(t, testList(4)))
	waitFor(t, "list 4", func() bool { return sequenceOf(h) == 4 })
	serve(mustSign(t, testList(3)))
	waitFor(t, "the stale list to be refused", func() bool { return logs.count("sequence 3 is older") > 0 })
	if got := sequenceOf(h); got != 4 {
		t.Errorf("sequence %d, want 4", got)
	}
	if !strings.Contains(logs.String(), "trust_list_url="+srv.URL) {
		t.Errorf("the log does not name the URL:\n%s", logs.String())
	}
}

func TestFetchURL(t *testing.T) {
	big := bytes.Repeat([]byte{0}, MaxSize+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("Accept") != "application/cose" {
				http.Error(w, "bad Accept", http.StatusNotAcceptable)
				return
			}
			fmt.Fprint(w, "list bytes")
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/big-chunked":
			w.(http.Flusher).Flush() // no Content-Length
			w.Write(big)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	data, err := FetchURL(ctx, srv.Client(), srv.URL+"/ok")
	if err != nil || string(data) != "list bytes" {
		t.Errorf("FetchURL(/ok) = %q, %v", data, err)
	}
	for _, tt := range []struct{ url, msg string }{
		{srv.URL + "/missing", "404 Not Found"},
		{srv.URL + "/big", "more than"},
		{srv.URL + "/big-chunked", "larger than"},
		{"ftp://example/trustlist.cose", "not an http or https URL"},
		{"/trustlist.cose", "not an http or https URL"},
		{"https://user:secret@[::1", "list URL"},
	} {
		_, err := FetchURL(ctx, srv.Client(), tt.url)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("FetchURL(%s) = %v, want an error saying %q", tt.url, err, tt.msg)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := FetchURL(short, srv.Client(), srv.URL+"/slow"); err == nil {
		t.Error("a slow server did not time out")
	}
}

func TestReadFileLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.cose")
	if err := os.WriteFile(path, make([]byte, MaxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadFile of a big file = %v", err)
	}
}
