// Package storeurl opens the store.Store that a URL names: a bbolt file
// by its path, or a Redis server by a redis:// or rediss:// URL.
package storeurl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/store/redis"
)

// Open opens the store that u names, for the given division:
//   - a path, or a file: URL (file:///var/lib/permitd/permits.db): the
//     bbolt file there (store/bolt), created when missing;
//   - redis://[user:password@]host:port[/db] or rediss://… (TLS): the
//     division's keys on that Redis server (store/redis); a rediss URL
//     may name files in its query: ca=FILE (the CA bundle the server's
//     certificate must verify against, instead of the system roots), and
//     cert=FILE&key=FILE (a client certificate, for a Redis that requires
//     one: tls-auth-clients);
//   - redis+cluster://[user:password@]host:port?addr=host2:port2&addr=…
//     or rediss+cluster://…: the division's keys on that Redis Cluster,
//     found from any of the listed nodes.
//
// Any other scheme is refused.
func Open(ctx context.Context, u, division string) (store.Store, error) {
	scheme, rest, hasScheme := strings.Cut(u, "://")
	switch {
	case u == "":
		return nil, fmt.Errorf("store: empty store URL")
	case !hasScheme:
		return bolt.Open(u, nil)
	case scheme == "file":
		if rest == "" {
			return nil, fmt.Errorf("store %q: file URL without a path", u)
		}
		return bolt.Open(rest, nil)
	case scheme == "redis" || scheme == "rediss" || scheme == "redis+cluster" || scheme == "rediss+cluster":
		plain, tlsConfig, err := redisTLS(strings.TrimSuffix(scheme, "+cluster"), rest)
		if err != nil {
			return nil, fmt.Errorf("store %q: %w", Redact(u), err)
		}
		return redis.Open(ctx, redis.Options{URL: plain, Cluster: strings.HasSuffix(scheme, "+cluster"), TLS: tlsConfig, Division: division})
	}
	return nil, fmt.Errorf("store %q: unknown scheme %q: want a bbolt file path, file://, redis://, rediss://, redis+cluster:// or rediss+cluster://", Redact(u), scheme)
}

// redisTLS takes the TLS file parameters (ca, cert, key) out of the query
// of scheme://rest and returns the URL without them and the TLS
// configuration they make (nil when there are none).
func redisTLS(scheme, rest string) (string, *tls.Config, error) {
	parsed, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return "", nil, err
	}
	q := parsed.Query()
	ca, cert, key := q.Get("ca"), q.Get("cert"), q.Get("key")
	if ca == "" && cert == "" && key == "" {
		return scheme + "://" + rest, nil, nil
	}
	if scheme != "rediss" {
		return "", nil, errors.New("ca, cert and key are TLS settings: use rediss:// (or rediss+cluster://)")
	}
	cfg, err := pki.ClientConfig(ca, cert, key)
	if err != nil {
		return "", nil, err
	}
	q.Del("ca")
	q.Del("cert")
	q.Del("key")
	parsed.RawQuery = q.Encode()
	return parsed.String(), cfg, nil
}

// Redact returns u with the password of a URL replaced by "xxxxx", for
// logs and error messages.
func Redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	auth, host, ok := strings.Cut(rest, "@")
	if !ok {
		return u
	}
	user, _, hasPassword := strings.Cut(auth, ":")
	if !hasPassword {
		return u
	}
	return scheme + "://" + user + ":xxxxx@" + host
}

// File returns the path of the bbolt file that u names, and false when u
// names a Redis store or is empty.
func File(u string) (string, bool) {
	scheme, rest, hasScheme := strings.Cut(u, "://")
	switch {
	case u == "":
		return "", false
	case !hasScheme:
		return u, true
	case scheme == "file" && rest != "":
		return rest, true
	}
	return "", false
}
