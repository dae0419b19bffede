package redis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// server is a redis-server process that a test started on a loopback port.
type server struct {
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
}

// startServer starts redis-server on a free loopback port with its data in
// a temporary folder (append-only file, fsync at every write), waits until
// it answers PING, and stops it, by its PID, when t ends. It fails the test
// when redis-server is not installed.
func startServer(t testing.TB) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed, and the Redis store is tested against a real one: install the Debian package redis-server (apt-get install redis-server): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := &server{bin: bin, port: port, dir: t.TempDir()}
	srv.start(t)
	t.Cleanup(func() { srv.stop(syscall.SIGTERM) })
	return srv
}

// url is the server's redis:// URL.
func (srv *server) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", srv.port) }

// start runs the server process and waits for PING.
func (srv *server) start(t testing.TB) {
	t.Helper()
	srv.cmd = exec.Command(srv.bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(srv.port), "--dir", srv.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--logfile", filepath.Join(srv.dir, "redis.log"))
	if err := srv.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.port), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(srv.dir, "redis.log"))
			srv.stop(syscall.SIGKILL)
			t.Fatalf("redis-server on port %d does not answer PING: %v\n%s", srv.port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig to the server's PID and waits for it to end.
func (srv *server) stop(sig syscall.Signal) {
	if srv.cmd == nil || srv.cmd.Process == nil {
		return
	}
	_ = srv.cmd.Process.Signal(sig)
	_ = srv.cmd.Wait()
	srv.cmd = nil
}

// startTestServer starts a server for t and returns its URL.
func startTestServer(t testing.TB) string {
	t.Helper()
	return startServer(t).url()
}
