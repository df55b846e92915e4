package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Model is the route the benchmark calls; the gateway maps it to the fake
// upstream's model of the same name, so both paths send identical bytes.
const Model = "fake-chat"

// Gateway is a running gateway under test.
type Gateway interface {
	// URL is the gateway's root URL (http://127.0.0.1:PORT).
	URL() string
	// PeakRSS is the peak resident set size of the gateway's process in
	// bytes (VmHWM).
	PeakRSS() (int64, error)
	// MinorFaults is the number of minor page faults the gateway's process
	// has taken so far (a gateway in the bench's own process: the whole
	// process's).
	MinorFaults() (int64, error)
	// Describe says where the gateway runs (process, CPUs).
	Describe() string
	// APIKey is the key callers send as a bearer token; empty when the
	// gateway admits callers without credentials.
	APIKey() string
	// Close stops the gateway and waits for it.
	Close() error
}

// Launcher starts gateways that route Model to an upstream.
type Launcher interface {
	// Launch starts the gateway s describes and returns once it is ready.
	Launch(ctx context.Context, s Setup) (Gateway, error)
}

// GatewayConfig returns the YAML config of a gateway listening on addr
// that routes Model to upstreamURL, with access logs off and callers
// admitted without credentials (auth off).
func GatewayConfig(upstreamURL, addr, dataDir string) []byte {
	return fmt.Appendf(nil, `server: {addr: %q, shutdown_timeout: 2s}
data_dir: %q
log: {level: warn}
auth: {anonymous: {enabled: true}}
backends:
  - {name: fake, type: openai, url: %q}
routes:
  - model: %s
    targets: [{backend: fake, model: %s}]
`, addr, dataDir, upstreamURL, Model, Model)
}

// Child launches the gateway as a separate process: Exe serve --config
// FILE, optionally pinned to one CPU with taskset.
type Child struct {
	// Exe is the ragway binary.
	Exe string
	// Pinning pins the child to GatewayCPU when Pinned.
	Pinning Pinning
	// ReadyTimeout bounds the wait for /readyz (10 s when zero).
	ReadyTimeout time.Duration
	// StopTimeout bounds the wait after SIGTERM before SIGKILL (5 s when
	// zero).
	StopTimeout time.Duration
}

var _ Launcher = Child{}

// Launch implements Launcher.
func (c Child) Launch(ctx context.Context, s Setup) (Gateway, error) {
	dir, err := os.MkdirTemp("", "ragway-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yaml")
	dataDir := filepath.Join(dir, "data")
	yml := s.config(addr, dataDir)
	key, err := prepareKey(ctx, s, yml)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(cfg, yml, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("write config: %w", err)
	}
	args := []string{"serve", "--config", cfg, "--addr", addr, "--data-dir", dataDir}
	if s.CPUProfile != "" {
		args = append(args, "--cpuprofile", s.CPUProfile)
	}
	// Every gateway maps its binary as read from disk, however recently it
	// was built; when the cache cannot be dropped the run goes on.
	_ = dropPageCache(c.Exe)
	p, err := startProcess("gateway", c.Exe, args, c.Pinning, dir, syscall.SIGTERM, orDefault(c.StopTimeout, 5*time.Second))
	if err != nil {
		return nil, err
	}
	p.url, p.key = "http://"+addr, key
	if err := waitReady(ctx, p.url, orDefault(c.ReadyTimeout, 10*time.Second), p.exited); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("gateway not ready: %w; its output: %s", err, p.out.String())
	}
	return p, nil
}

// startProcess starts exe args as a child named name, pinned to
// pin.GatewayCPU with taskset when pin.Pinned, with dir (removed on
// Close) as its own. Close sends stop, then SIGKILL after stopTimeout. On
// failure dir is removed.
func startProcess(name, exe string, args []string, pin Pinning, dir string, stop syscall.Signal,
	stopTimeout time.Duration) (*process, error) {
	path := exe
	if pin.Pinned {
		args = append([]string{"-c", strconv.Itoa(pin.GatewayCPU), exe}, args...)
		path = pin.Taskset
	}
	cmd := exec.Command(path, args...)
	out := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	// If the bench dies without stopping it, the kernel stops the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, dir: dir, out: out, exited: make(chan struct{}), stop: stop,
		stopTimeout: stopTimeout}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// process is a child process: a gateway or a reference proxy.
type process struct {
	name        string
	cmd         *exec.Cmd
	dir         string
	url         string
	key         string
	out         *tailBuffer
	exited      chan struct{}
	waitErr     error
	stop        syscall.Signal
	stopTimeout time.Duration
	once        sync.Once
	closeErr    error
}

func (p *process) URL() string { return p.url }

func (p *process) APIKey() string { return p.key }

func (p *process) PeakRSS() (int64, error) { return peakRSS(p.cmd.Process.Pid) }

func (p *process) MinorFaults() (int64, error) { return minorFaults(p.cmd.Process.Pid) }

func (p *process) Describe() string {
	pid := p.cmd.Process.Pid
	cpus, err := statusField(pid, "Cpus_allowed_list")
	if err != nil {
		return fmt.Sprintf("process %d", pid)
	}
	return fmt.Sprintf("process %d, CPUs %s", pid, cpus)
}

// Close sends the stop signal, waits up to the stop timeout, then SIGKILL.
func (p *process) Close() error {
	p.once.Do(func() {
		defer os.RemoveAll(p.dir)
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(p.stop)
			t := time.NewTimer(p.stopTimeout)
			defer t.Stop()
			select {
			case <-p.exited:
			case <-t.C:
				_ = p.cmd.Process.Kill()
				<-p.exited
				p.closeErr = fmt.Errorf("%s did not stop within %s; killed", p.name, p.stopTimeout)
				return
			}
		}
		if p.waitErr != nil {
			p.closeErr = fmt.Errorf("%s exited: %w; its output: %s", p.name, p.waitErr, p.out.String())
		}
	})
	return p.closeErr
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// waitReady polls url/readyz until it answers 200, the process exits, ctx
// ends or timeout passes.
func waitReady(ctx context.Context, url string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", http.NoBody)
		if err != nil {
			return fmt.Errorf("readyz request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("readyz: status %d", resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-exited:
			return errors.New("process exited")
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", timeout, errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
	}
}

// peakRSS reads VmHWM of pid (0: this process) in bytes.
func peakRSS(pid int) (int64, error) {
	v, err := statusField(pid, "VmHWM")
	if err != nil {
		return 0, err
	}
	kb, ok := strings.CutSuffix(v, " kB")
	if !ok {
		return 0, fmt.Errorf("VmHWM: unexpected value %q", v)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(kb), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("VmHWM: %w", err)
	}
	return n << 10, nil
}

// minorFaults returns minflt from /proc/PID/stat (PID 0: self).
func minorFaults(pid int) (int64, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return parseMinorFaults(string(b))
}

// parseMinorFaults reads minflt, the tenth field of a /proc/PID/stat line.
// The second field, the command name in parentheses, may hold spaces and
// parentheses itself, so the fields are counted from the last ')'.
func parseMinorFaults(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	// After the name: state ppid pgrp session tty_nr tpgid flags minflt.
	f := strings.Fields(stat[i+1:])
	if len(f) < 8 {
		return 0, fmt.Errorf("stat: %d fields after the command name", len(f))
	}
	n, err := strconv.ParseInt(f[7], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("stat: minflt %q", f[7])
	}
	return n, nil
}

// statusField returns one field of /proc/PID/status (PID 0: self).
func statusField(pid int, field string) (string, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return parseStatusField(b, field)
}

func parseStatusField(status []byte, field string) (string, error) {
	for line := range bytes.Lines(status) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && string(name) == field {
			return string(bytes.TrimSpace(value)), nil
		}
	}
	return "", fmt.Errorf("no %s in process status", field)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return "(none)"
	}
	return s
}
