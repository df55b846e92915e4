package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/gateway/config"
	"github.com/ragway/ragway/llm"
	"github.com/ragway/ragway/llm/backends"
)

func TestRedactHandler(t *testing.T) {
	const key = "sk-redact-0123456789"
	sec := &secrets{}
	sec.add(&config.Config{Backends: []backends.Config{
		{Name: "a", APIKey: llm.Secret(key)},
		{Name: "b", APIKey: llm.Secret("short")},
		{Name: "c", APIKey: llm.Secret(key)},
	}})
	require.Len(t, sec.list, 1, "short and duplicate keys are left out")

	cases := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"message", func(l *slog.Logger) { l.Info("bad key " + key) }},
		{"string", func(l *slog.Logger) { l.Info("x", "cause", "quoted "+key+" twice "+key) }},
		{"error", func(l *slog.Logger) { l.Info("x", "error", fmt.Errorf("upstream: %w", errors.New(key))) }},
		{"group", func(l *slog.Logger) { l.Info("x", slog.Group("g", slog.String("k", key))) }},
		{"log valuer", func(l *slog.Logger) {
			l.Info("x", "error", &APIError{Status: 502, Type: "api_error", Err: errors.New("401: " + key)})
		}},
		{"with attrs", func(l *slog.Logger) { l.With("k", key).Info("x") }},
		{"with group", func(l *slog.Logger) { l.WithGroup("g").Info("x", "k", key) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(redactHandler{next: slog.NewJSONHandler(&buf, nil), secrets: sec})
			tc.log(l)
			require.NotContains(t, buf.String(), key)
			require.Contains(t, buf.String(), redactedText)
		})
	}
	t.Run("other values pass", func(t *testing.T) {
		var buf bytes.Buffer
		l := slog.New(redactHandler{next: slog.NewJSONHandler(&buf, nil), secrets: sec})
		l.Info("hello", "n", 3, "s", "plain")
		require.Contains(t, buf.String(), `"n":3`)
		require.Contains(t, buf.String(), `"s":"plain"`)
		require.NotContains(t, buf.String(), redactedText)
	})
}

func TestScrubNestedSecrets(t *testing.T) {
	const short, long = "pw-01234567", "postgres://u:pw-01234567@db/x"
	for _, order := range [][2]string{{short, long}, {long, short}} {
		sec := &secrets{}
		sec.add(&config.Config{Backends: []backends.Config{
			{Name: "a", APIKey: llm.Secret(order[0])},
			{Name: "b", APIKey: llm.Secret(order[1])},
		}})
		got := sec.scrub("connect " + long + " failed")
		require.Equal(t, "connect "+redactedText+" failed", got)
	}
}
