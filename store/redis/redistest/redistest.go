// Package redistest starts real redis-server processes for tests, on
// loopback ports with their data in temporary folders.
package redistest

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

// Server is a redis-server process that a test started.
type Server struct {
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
}

// Start starts redis-server on a free 127.0.0.1 port with its data in a
// temporary folder (append-only file with fsync at every write, no
// snapshots), waits until it answers PING, and stops it by its PID when t
// ends. It fails the test, saying which package to install, when
// redis-server is not installed: the Redis store is tested against a real
// server or not at all, and nothing skips silently.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed; the Redis store is tested against a real one: install the Debian package redis-server (apt-get install redis-server): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := &Server{bin: bin, port: port, dir: t.TempDir()}
	srv.start(t)
	t.Cleanup(func() { srv.Stop(syscall.SIGTERM) })
	return srv
}

// URL is the server's redis:// URL (database 0).
func (srv *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", srv.port) }

// Restart kills the server with SIGKILL and starts it again on the same
// port and folder: what it answers afterwards is what was on disk.
func (srv *Server) Restart(t testing.TB) {
	t.Helper()
	srv.Stop(syscall.SIGKILL)
	srv.start(t)
}

// start runs the server process and waits for PING.
func (srv *Server) start(t testing.TB) {
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
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(srv.dir, "redis.log"))
			srv.Stop(syscall.SIGKILL)
			t.Fatalf("redis-server on port %d does not answer PING: %v\n%s", srv.port, err, log)
		}
	}
}

// Stop sends sig to the server's PID, if it runs, and waits for it to end.
func (srv *Server) Stop(sig syscall.Signal) {
	if srv.cmd == nil || srv.cmd.Process == nil {
		return
	}
	_ = srv.cmd.Process.Signal(sig)
	_ = srv.cmd.Wait()
	srv.cmd = nil
}
