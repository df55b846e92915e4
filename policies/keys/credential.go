package keys

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Key format.
const (
	// Prefix starts every key, so a bearer token can be told apart from a
	// JWT and secret scanners recognise a leaked key.
	Prefix = "rgw-"
	// IDLen and SecretLen are the lengths, in base32 characters, of a key's
	// id (10 random bytes) and secret (32 random bytes).
	IDLen     = 16
	SecretLen = 52
	// KeyLen is the length of a whole key.
	KeyLen = len(Prefix) + IDLen + 1 + SecretLen
)

// Hash algorithms recorded with each key, so adding a pepper later does not
// silently break older keys (they keep their algorithm).
const (
	HashSHA256     = "sha256"
	HashHMACSHA256 = "hmac-sha256"
)

const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

var encoding = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

var errMalformed = errors.New("malformed key")

// IsKey reports whether credential has the shape of an API key (as opposed
// to, say, a JWT). It does not check the key.
func IsKey(credential string) bool { return strings.HasPrefix(credential, Prefix) }

// newCredential draws a fresh id and secret from r.
func newCredential(r io.Reader) (id, secret string, err error) {
	buf := make([]byte, 10+32)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", "", fmt.Errorf("read random: %w", err)
	}
	return encoding.EncodeToString(buf[:10]), encoding.EncodeToString(buf[10:]), nil
}

func formatCredential(id, secret string) string { return Prefix + id + "-" + secret }

// parseCredential splits a key into id and secret. It looks at no more than
// KeyLen bytes and accepts exactly the format newCredential produces.
func parseCredential(s string) (id, secret string, err error) {
	if len(s) != KeyLen || !strings.HasPrefix(s, Prefix) {
		return "", "", errMalformed
	}
	rest := s[len(Prefix):]
	if rest[IDLen] != '-' {
		return "", "", errMalformed
	}
	id, secret = rest[:IDLen], rest[IDLen+1:]
	if !validChars(id) || !validChars(secret) {
		return "", "", errMalformed
	}
	return id, secret, nil
}

// validID reports whether id has the shape of a key id.
func validID(id string) bool { return len(id) == IDLen && validChars(id) }

func validChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// hasher computes key digests.
type hasher struct {
	pepper []byte
}

// alg is the algorithm new keys are hashed with.
func (h hasher) alg() string {
	if len(h.pepper) > 0 {
		return HashHMACSHA256
	}
	return HashSHA256
}

// sum hashes id and secret under alg; ok is false when alg needs a pepper
// that is not configured, or is unknown.
func (h hasher) sum(alg, id, secret string) (digest []byte, ok bool) {
	msg := id + "-" + secret
	switch alg {
	case HashSHA256:
		d := sha256.Sum256([]byte(msg))
		return d[:], true
	case HashHMACSHA256:
		if len(h.pepper) == 0 {
			return nil, false
		}
		m := hmac.New(sha256.New, h.pepper)
		m.Write([]byte(msg))
		return m.Sum(nil), true
	}
	return nil, false
}

// verify compares in constant time.
func (h hasher) verify(alg, id, secret string, want []byte) bool {
	got, ok := h.sum(alg, id, secret)
	if !ok {
		got = make([]byte, sha256.Size)
	}
	return subtle.ConstantTimeCompare(got, want) == 1 && ok
}

// defaultRand is the source of key material.
var defaultRand io.Reader = rand.Reader
