package trust

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yrd-epermit/epermit/credential"
)

// Defaults of Watch, WatchURL and FetchURL.
const (
	// DefaultRefresh is how often Watch and WatchURL poll when given no
	// interval.
	DefaultRefresh = time.Minute
	// FetchTimeout bounds one fetch of FetchURL, whatever the client's
	// own timeout.
	FetchTimeout = 30 * time.Second
)

// HolderConfig configures a Holder.
type HolderConfig struct {
	// Registry is the registry's public key, an ed25519.PublicKey
	// (LoadRegistryPublic reads it). Required.
	Registry crypto.PublicKey
	// Clock returns the current time; time.Now when nil.
	Clock func() time.Time
}

// Holder holds a node's current trust list. It is safe for concurrent use:
// readers call Current or VerifyCredential while Load, Watch or WatchURL
// replace the list.
type Holder struct {
	registry ed25519.PublicKey
	clock    func() time.Time
	mu       sync.Mutex // serializes Load
	cur      atomic.Pointer[held]
	// shared is where replicas share the list (shared.go); nil for none.
	shared atomic.Pointer[sharedBox]
}

// held is a verified list and the bytes it came from.
type held struct {
	list *List
	raw  []byte
}

// NewHolder returns a Holder holding no list.
func NewHolder(cfg HolderConfig) (*Holder, error) {
	pub, ok := cfg.Registry.(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("trust: the registry public key is %T, want an Ed25519 public key", cfg.Registry)
	}
	h := &Holder{registry: pub, clock: cfg.Clock}
	if h.clock == nil {
		h.clock = time.Now
	}
	return h, nil
}

// Load makes data, a signed trust list, the current list if it verifies
// (see Verify) and its sequence is greater than the current list's. A list
// whose sequence is not greater is refused with an error wrapping ErrStale,
// even when the current list has expired, so that an old list can never
// come back; data identical to the current list's bytes is a no-op.
func (h *Holder) Load(data []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.cur.Load()
	if cur != nil && bytes.Equal(cur.raw, data) {
		return nil
	}
	l, err := Verify(data, h.registry, h.clock())
	if err != nil {
		return err
	}
	if cur != nil {
		switch old := cur.list.Sequence; {
		case l.Sequence == old:
			return fmt.Errorf("%w: the list has the current sequence %d but other content; the registry must sign changes with a greater sequence", ErrStale, old)
		case l.Sequence < old:
			return fmt.Errorf("%w: sequence %d is older than the current list's %d", ErrStale, l.Sequence, old)
		}
	}
	h.cur.Store(&held{list: l, raw: bytes.Clone(data)})
	return nil
}

// LoadFile reads a signed trust list from path and loads it (see Load).
func (h *Holder) LoadFile(path string) error {
	data, err := ReadFile(path)
	if err != nil {
		return err
	}
	return h.Load(data)
}

// Current returns the current list, or nil when none has been loaded or
// the current one has expired. The list must not be modified.
func (h *Holder) Current() *List {
	p := h.cur.Load()
	if p == nil || !h.clock().Before(p.list.ExpiresAt) {
		return nil
	}
	return p.list
}

// VerifyCredential verifies a permit credential with the current list at
// time now; see List.VerifyCredential. Without a list, or once it has
// expired, no credential passes the issuer check.
func (h *Holder) VerifyCredential(text string, now time.Time) credential.Result {
	var l *List
	if p := h.cur.Load(); p != nil {
		l = p.list
	}
	return l.VerifyCredential(text, now)
}

// Watch loads the list in the file at path now and then every interval
// (DefaultRefresh when interval is not positive) until ctx is done, so that
// a node picks up a newer list without a restart; after each read it also
// syncs with the shared list, when Share gave one (Sync). Problems are
// logged to log (nothing when nil), each once until it changes: a file or
// shared list that cannot be read or does not verify at error level, a
// stale list at warning level, as is the current list's expiry. A newly
// loaded list is logged at info level.
func (h *Holder) Watch(ctx context.Context, path string, interval time.Duration, log *slog.Logger) {
	h.watch(ctx, func(context.Context) ([]byte, error) { return ReadFile(path) }, interval, log, "file", path)
}

// WatchURL is Watch for a list served over HTTP or HTTPS at rawURL, fetched
// with FetchURL and client (a default client when nil).
func (h *Holder) WatchURL(ctx context.Context, rawURL string, client *http.Client, interval time.Duration, log *slog.Logger) {
	name := "(not a URL)"
	if u, err := url.Parse(rawURL); err == nil {
		name = u.Redacted()
	}
	h.watch(ctx, func(ctx context.Context) ([]byte, error) { return FetchURL(ctx, client, rawURL) }, interval, log, "url", name)
}

// watch polls fetch until ctx is done.
func (h *Holder) watch(ctx context.Context, fetch func(context.Context) ([]byte, error), interval time.Duration, log *slog.Logger, kind, name string) {
	if interval <= 0 {
		interval = DefaultRefresh
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &watcher{h: h, fetch: fetch, log: log.With("trust_list_"+kind, name)}
	w.poll(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.poll(ctx)
		}
	}
}

// watcher is the state of one Watch: what it last complained about, so
// that each problem is logged once.
type watcher struct {
	h           *Holder
	fetch       func(context.Context) ([]byte, error)
	log         *slog.Logger
	lastProblem string
	lastShared  string // the last problem with the shared list
	expired     *List  // the expired list last logged
}

// poll fetches and loads the list once, then syncs with the shared list.
func (w *watcher) poll(ctx context.Context) {
	before := w.h.cur.Load()
	data, err := w.fetch(ctx)
	if err == nil {
		err = w.h.Load(data)
	}
	w.report(ctx, &w.lastProblem, err, "trust list refused: keeping the current list")
	w.report(ctx, &w.lastShared, w.h.Sync(ctx), "shared trust list: keeping the current list")
	if p := w.h.cur.Load(); p != before {
		l := p.list
		w.log.Info("trust list loaded", "sequence", l.Sequence, "members", len(l.Members),
			"issued_at", l.IssuedAt, "expires_at", l.ExpiresAt)
	}
	if p := w.h.cur.Load(); p != nil && !w.h.clock().Before(p.list.ExpiresAt) && w.expired != p.list {
		w.expired = p.list
		w.log.Warn("the current trust list has expired: credentials of other members will not verify until a newer list is loaded",
			"sequence", p.list.Sequence, "expires_at", p.list.ExpiresAt)
	}
}

// report logs err with msg unless it is the problem last logged in *last;
// nil clears *last.
func (w *watcher) report(ctx context.Context, last *string, err error, msg string) {
	switch {
	case err == nil:
		*last = ""
	case ctx.Err() != nil || err.Error() == *last:
	case errors.Is(err, ErrStale):
		*last = err.Error()
		w.log.Warn(msg, "err", err)
	default:
		*last = err.Error()
		w.log.Error(msg, "err", err)
	}
}

// ReadFile reads a signed trust list from path, refusing a file larger
// than MaxSize.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformed, path, MaxSize)
	}
	return data, nil
}

// defaultClient fetches lists when FetchURL is given no client.
var defaultClient = &http.Client{Timeout: FetchTimeout}

// FetchURL fetches a signed trust list with an HTTP GET of rawURL, an
// http or https URL, using client (a default client when nil). It gives up
// after FetchTimeout, and refuses an answer other than 200 OK or a body
// larger than MaxSize. It does not verify the list: Load does.
func FetchURL(ctx context.Context, client *http.Client, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// The url.Error would repeat the URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("trust: list URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("trust: list URL %s is not an http or https URL", u.Redacted())
	}
	if client == nil {
		client = defaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("trust: fetch %s: %w", u.Redacted(), err)
	}
	req.Header.Set("Accept", "application/cose")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("trust: fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("trust: fetch %s: %s", u.Redacted(), resp.Status)
	}
	if resp.ContentLength > MaxSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrMalformed, u.Redacted(), resp.ContentLength, MaxSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("trust: fetch %s: %w", u.Redacted(), err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformed, u.Redacted(), MaxSize)
	}
	return data, nil
}
