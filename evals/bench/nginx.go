package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Reference is a plain reverse proxy measured beside the gateway, in the
// same turns, as a yardstick for what any proxy adds: the speed targets
// were written against nginx.
type Reference interface {
	// Name names the reference in the report ("nginx").
	Name() string
	// Start starts the proxy in front of upstreamURL's host and returns
	// once it is ready. The proxy passes every path through unchanged.
	Start(ctx context.Context, upstreamURL string) (Proxy, error)
}

// Proxy is a running reference proxy.
type Proxy interface {
	// URL is the proxy's root URL (http://127.0.0.1:PORT).
	URL() string
	// Describe says what runs and where (version, process, CPUs).
	Describe() string
	// Close stops the proxy and waits for it.
	Close() error
}

// Reference modes of the bench command.
const (
	ReferenceAuto  = "auto"
	ReferenceNginx = "nginx"
	ReferenceGo    = "go"
	ReferenceNone  = "none"
)

// nginxFallback is where Debian installs nginx, outside a user's PATH
// (a variable for tests).
var nginxFallback = "/usr/sbin/nginx"

// ErrNoNginx is returned when no nginx binary is found.
var ErrNoNginx = errors.New("nginx not found in PATH or at /usr/sbin/nginx")

// ErrReferenceMode is returned for a reference mode other than auto,
// nginx or none.
var ErrReferenceMode = errors.New("unknown reference mode")

// FindNginx returns the nginx binary: path when set, else nginx in PATH,
// else /usr/sbin/nginx.
func FindNginx(path string) (string, error) {
	if path != "" {
		return executable(path)
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return filepath.Abs(p)
	}
	if p, err := executable(nginxFallback); err == nil {
		return p, nil
	}
	return "", ErrNoNginx
}

func executable(path string) (string, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("nginx binary: %w", err)
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("nginx binary: %w", err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("nginx binary: %s is not an executable file", p)
	}
	return p, nil
}

// ChooseReference turns the bench command's --reference mode and --nginx
// path into the reference to measure: nil, with the reason why, for none.
// Mode auto takes nginx when it is found and none otherwise; mode nginx,
// or a path given explicitly, fails when the binary is missing. Mode go
// takes GoProxy served by self (the bench binary).
func ChooseReference(mode, nginxPath, self string, pin Pinning) (Reference, string, error) {
	switch mode {
	case ReferenceNone:
		return nil, "disabled by --reference none", nil
	case ReferenceGo:
		return GoProxy{Exe: self, Pinning: pin}, "", nil
	case ReferenceAuto, ReferenceNginx:
	default:
		return nil, "", fmt.Errorf("%w %q: want %s, %s, %s or %s", ErrReferenceMode, mode,
			ReferenceAuto, ReferenceNginx, ReferenceGo, ReferenceNone)
	}
	exe, err := FindNginx(nginxPath)
	switch {
	case err == nil:
		return Nginx{Exe: exe, Pinning: pin}, "", nil
	case mode == ReferenceAuto && nginxPath == "":
		return nil, err.Error() + " (install nginx-light, or pass --nginx)", nil
	default:
		return nil, "", fmt.Errorf("reference nginx: %w", err)
	}
}

// Nginx launches nginx as the reference: one process (master_process
// off), pinned like the gateway child, configured as a plain reverse
// proxy with upstream keep-alive and response buffering off so SSE frames
// pass as they come. Every file it writes is in a temp dir of its own.
type Nginx struct {
	// Exe is the nginx binary.
	Exe string
	// Pinning pins nginx to GatewayCPU when Pinned.
	Pinning Pinning
	// ReadyTimeout bounds the wait for /readyz (10 s when zero).
	ReadyTimeout time.Duration
	// StopTimeout bounds the wait after SIGQUIT before SIGKILL (5 s when
	// zero).
	StopTimeout time.Duration
}

var _ Reference = Nginx{}

// Name implements Reference.
func (Nginx) Name() string { return "nginx" }

// Start implements Reference.
func (n Nginx) Start(ctx context.Context, upstreamURL string) (Proxy, error) {
	host, err := upstreamHost(n.Name(), upstreamURL)
	if err != nil {
		return nil, err
	}
	version := nginxVersion(ctx, n.Exe)
	dir, err := os.MkdirTemp("", "ragway-bench-nginx-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, NginxConfig(dir, addr, host), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("write nginx config: %w", err)
	}
	// -e moves the log nginx opens before it reads the config into dir.
	args := []string{"-p", dir + "/", "-c", conf, "-e", filepath.Join(dir, "error.log")}
	p, err := startProcess("nginx", n.Exe, args, n.Pinning, dir, syscall.SIGQUIT, orDefault(n.StopTimeout, 5*time.Second))
	if err != nil {
		return nil, err
	}
	p.url = "http://" + addr
	if err := waitReady(ctx, p.url, orDefault(n.ReadyTimeout, 10*time.Second), p.exited); err != nil {
		log := nginxErrorLog(dir)
		_ = p.Close()
		return nil, fmt.Errorf("nginx not ready: %w; its output: %s; its error log: %s", err, p.out.String(), log)
	}
	return &nginxProcess{process: p, version: version}, nil
}

// nginxProcess is a running nginx.
type nginxProcess struct {
	*process
	version string
}

func (p *nginxProcess) Describe() string {
	return p.version + ", " + p.process.Describe()
}

// nginxVersion returns "nginx/1.22.1" from exe -v, or "nginx" when it
// does not say.
func nginxVersion(ctx context.Context, exe string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, "-v").CombinedOutput()
	if err != nil {
		return "nginx"
	}
	_, v, ok := bytes.Cut(out, []byte("nginx version: "))
	if !ok {
		return "nginx"
	}
	return string(bytes.TrimSpace(v))
}

// nginxErrorLog returns the end of nginx's error log in dir.
func nginxErrorLog(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "error.log"))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 4096 {
		s = s[len(s)-4096:]
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// NginxConfig returns the config of an nginx in one process, listening on
// addr and proxying every path to upstream (HOST:PORT), with its pid
// file, error log and temp paths in dir. Client and upstream connections
// are kept alive for as many requests as a run sends, as the gateway keeps
// them; /readyz answers 200 itself.
func NginxConfig(dir, addr, upstream string) []byte {
	path := func(name string) string { return strconv.Quote(filepath.Join(dir, name)) }
	return fmt.Appendf(nil, `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 8192;
pid %s;
error_log %s warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    keepalive_requests 1000000;

    upstream fake {
        server %s;
        keepalive 64;
        keepalive_requests 1000000;
    }

    server {
        listen %s;

        location = /readyz {
            return 200;
        }

        location / {
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
`, path("nginx.pid"), path("error.log"), path("client_body"), path("proxy"), path("fastcgi"), path("uwsgi"),
		path("scgi"), upstream, addr)
}

// upstreamHost returns the host of a reference's upstream URL, which must be
// http with a host.
func upstreamHost(ref, upstreamURL string) (string, error) {
	u, err := url.Parse(upstreamURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", fmt.Errorf("%s upstream %q: want an http URL with a host", ref, upstreamURL)
	}
	return u.Host, nil
}
