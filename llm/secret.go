package llm

import "log/slog"

// Secret is a credential read from the environment. It never prints: fmt, slog,
// JSON and YAML all show "[REDACTED]".
type Secret string

const redacted = "[REDACTED]"

func (s Secret) String() string { return redactedOrEmpty(s) }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return redactedOrEmpty(s) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redactedOrEmpty(s)) }

// MarshalText redacts the secret in JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redactedOrEmpty(s)), nil }

// Reveal returns the secret's value, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

func redactedOrEmpty(s Secret) string {
	if s == "" {
		return ""
	}
	return redacted
}
