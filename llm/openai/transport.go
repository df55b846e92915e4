package openai

import (
	"net"
	"net/http"
	"time"
)

// newTransport returns the keep-alive transport of one backend.
func newTransport(connect, response time.Duration, maxIdle int) *http.Transport {
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		ResponseHeaderTimeout: response,
		MaxIdleConns:          maxIdle,
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect + 5*time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
	}
}
