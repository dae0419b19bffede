package redis

import (
	"testing"

	"github.com/yrd-epermit/epermit/store/redis/redistest"
)

// startTestServer starts a redis-server for t and returns its URL.
func startTestServer(t testing.TB) string {
	t.Helper()
	return redistest.Start(t).URL()
}
