// Package storeurl opens the store.Store that a URL names: a bbolt file
// by its path, or a Redis server by a redis:// or rediss:// URL.
package storeurl

import (
	"context"
	"fmt"
	"strings"

	"github.com/yrd-epermit/epermit/store"
	"github.com/yrd-epermit/epermit/store/bolt"
	"github.com/yrd-epermit/epermit/store/redis"
)

// Open opens the store that u names, for the given division:
//   - a path, or a file: URL (file:///var/lib/permitd/permits.db): the
//     bbolt file there (store/bolt), created when missing;
//   - redis://[user:password@]host:port[/db] or rediss://… (TLS): the
//     division's keys on that Redis server (store/redis);
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
	case scheme == "redis" || scheme == "rediss":
		return redis.Open(ctx, redis.Options{URL: u, Division: division})
	case scheme == "redis+cluster" || scheme == "rediss+cluster":
		plain := strings.TrimSuffix(scheme, "+cluster") + "://" + rest
		return redis.Open(ctx, redis.Options{URL: plain, Cluster: true, Division: division})
	}
	return nil, fmt.Errorf("store %q: unknown scheme %q: want a bbolt file path, file://, redis://, rediss://, redis+cluster:// or rediss+cluster://", Redact(u), scheme)
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
