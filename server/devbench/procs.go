package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a started process may take to serve.
const startTimeout = 60 * time.Second

// stopTimeout bounds how long a process may take to stop after SIGTERM
// before it is killed.
const stopTimeout = 30 * time.Second

// proc is a process the harness started; it is stopped by its PID only.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string // file holding its stdout and stderr
	exited chan struct{}
}

// servingLine is how permitd and devdepartment announce their address.
var servingLine = regexp.MustCompile(`serving gRPC on (\S+)`)

// startProc starts bin with args in dir, its output going to dir/<name>.log.
func startProc(name, dir, bin string, args ...string) (*proc, io.Reader, error) {
	p := &proc{name: name, cmd: exec.Command(bin, args...), log: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	p.cmd.Dir = dir
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, nil, err
	}
	p.cmd.Stderr = logf
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, nil, err
	}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	// The log file is closed by Wait; stdout is read until then.
	pr, pw := io.Pipe()
	go func() {
		io.Copy(io.MultiWriter(logf, pw), stdout)
		p.cmd.Wait()
		logf.Close()
		pw.Close()
		close(p.exited)
	}()
	return p, pr, nil
}

// startServer starts a permitd or devdepartment and returns it with the
// address it announced.
func startServer(ctx context.Context, name, dir, bin string, args ...string) (*proc, string, error) {
	p, out, err := startProc(name, dir, bin, args...)
	if err != nil {
		return nil, "", err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return p, a, nil
	case <-p.exited:
		err = fmt.Errorf("%s exited before serving:\n%s", name, p.tail())
	case <-time.After(startTimeout):
		err = fmt.Errorf("%s did not serve within %v:\n%s", name, startTimeout, p.tail())
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.stop()
	return nil, "", err
}

// startRedis starts redis-server on a free loopback port with its data in
// dir, every write fsync'd before it is acknowledged (appendfsync always),
// and returns it with its redis:// URL once it answers PING.
func startRedis(ctx context.Context, dir string) (*proc, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", fmt.Errorf("--redis needs redis-server (Debian package redis-server): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p, out, err := startProc("redis-server", dir, bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always")
	if err != nil {
		return nil, "", err
	}
	go io.Copy(io.Discard, out)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(20 * time.Millisecond) {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Ping(pctx).Err()
		cancel()
		switch {
		case err == nil:
			return p, "redis://" + addr + "/0", nil
		case ctx.Err() != nil, time.Now().After(deadline):
			p.stop()
			return nil, "", fmt.Errorf("redis-server on %s does not answer PING: %v\n%s", addr, err, p.tail())
		}
		select {
		case <-p.exited:
			return nil, "", fmt.Errorf("redis-server exited:\n%s", p.tail())
		default:
		}
	}
}

// stop sends SIGTERM to the process's PID, and SIGKILL if it has not ended
// after stopTimeout. It reports whether the process ended on SIGTERM.
func (p *proc) stop() bool {
	select {
	case <-p.exited:
		return true
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return false
}

// tail is the end of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// clockTicks is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on Linux for every architecture Go supports).
const clockTicks = 100

// cpu returns the user and system CPU time the process has used so far,
// from /proc/<pid>/stat.
func (p *proc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// parseStat reads utime and stime (fields 14 and 15) from a /proc/<pid>/stat
// line. The command name (field 2) is in parentheses and may hold spaces,
// so fields are counted from the last ')'.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// selfCPU is the CPU time this process (the callers) has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
