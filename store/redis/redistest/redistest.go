// Package redistest starts real redis-server processes for tests, on
// loopback ports with their data in temporary folders.
package redistest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	args []string // more arguments, for cluster mode
	// busPort is the cluster bus port of a cluster node.
	busPort int
	// tls and password are what a client needs when the server serves
	// TLS and requires a password (StartTLS).
	tls      *tls.Config
	password string
	cmd      *exec.Cmd
}

// Start starts redis-server on a free 127.0.0.1 port with its data in a
// temporary folder (append-only file with fsync at every write, no
// snapshots), waits until it answers PING, and stops it by its PID when t
// ends. When redis-server is not installed it fails the test under
// CI=true, saying which package to install, and elsewhere skips it with a
// loud message: the Redis store is tested against a real server or not at
// all, and nothing skips silently.
func Start(t testing.TB) *Server {
	t.Helper()
	srv := newServer(t)
	srv.start(t)
	t.Cleanup(func() { srv.Stop(syscall.SIGTERM) })
	return srv
}

// StartTLS starts redis-server as Start does, but serving TLS only, with
// the server certificate and key in certFile and keyFile, requiring every
// client to present a certificate that verifies against caFile (Redis's
// tls-auth-clients) and to authenticate with password. client is the TLS
// configuration the test's own readiness check uses.
func StartTLS(t testing.TB, certFile, keyFile, caFile, password string, client *tls.Config) *Server {
	t.Helper()
	srv := newServer(t)
	srv.tls, srv.password = client, password
	srv.args = []string{"--port", "0", "--tls-port", strconv.Itoa(srv.port),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile,
		"--tls-auth-clients", "yes", "--requirepass", password}
	srv.start(t)
	t.Cleanup(func() { srv.Stop(syscall.SIGTERM) })
	return srv
}

// Port is the server's port (its TLS port when it serves TLS).
func (srv *Server) Port() int { return srv.port }

// newServer prepares a server on a free loopback port, not yet started.
func newServer(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		const msg = "redis-server is not installed; the Redis store is tested against a real one: install the Debian package redis-server (apt-get install redis-server)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v", msg, err)
		}
		t.Skipf("SKIPPED, NOT TESTED: %s (under CI=true this fails)", msg)
	}
	return &Server{bin: bin, port: freePort(t), dir: t.TempDir()}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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
	srv.cmd.Args = append(srv.cmd.Args, srv.args...)
	if err := srv.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.port), MaxRetries: -1,
		TLSConfig: srv.tls, Password: srv.password})
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

// StartCluster starts a Redis Cluster of n masters (no replicas), each a
// redis-server as Start makes them, assigns each an equal share of the
// 16384 slots, introduces them to each other, and waits until every node
// reports the cluster ok. It returns the cluster's URL in go-redis's
// ParseClusterURL form: redis://first?addr=second&addr=third.
func StartCluster(t testing.TB, n int) string {
	t.Helper()
	var nodes []*Server
	for range n {
		srv := newServer(t)
		srv.busPort = freePort(t)
		srv.args = []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(srv.busPort), "--cluster-node-timeout", "5000"}
		srv.start(t)
		t.Cleanup(func() { srv.Stop(syscall.SIGTERM) })
		nodes = append(nodes, srv)
	}
	ctx := context.Background()
	clients := make([]*goredis.Client, n)
	for i, srv := range nodes {
		clients[i] = goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.port)})
		defer clients[i].Close()
		lo, hi := i*16384/n, (i+1)*16384/n-1
		if err := clients[i].Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			t.Fatalf("cluster node %d: ADDSLOTSRANGE %d %d: %v", i, lo, hi, err)
		}
		if i > 0 {
			if err := clients[i].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", nodes[0].port, nodes[0].busPort).Err(); err != nil {
				t.Fatalf("cluster node %d: MEET: %v", i, err)
			}
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ok := true
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", n)) {
				ok = false
				break
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster of %d nodes is not ok after 30 s", n)
		}
	}
	u := fmt.Sprintf("redis://127.0.0.1:%d", nodes[0].port)
	for i, srv := range nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += fmt.Sprintf("%saddr=127.0.0.1:%d", sep, srv.port)
	}
	return u
}
