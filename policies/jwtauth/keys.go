package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
)

// minRSABits is the smallest RSA modulus accepted, from config or a JWKS.
const minRSABits = 2048

type family int

const (
	familyUnknown family = iota
	familyHMAC
	familyRSA
	familyECDSA
	familyEdDSA
)

// familyOf maps the supported algorithms to their key family; anything else,
// "none" included, is familyUnknown.
func familyOf(alg string) family {
	switch alg {
	case "HS256", "HS384", "HS512":
		return familyHMAC
	case "RS256", "RS384", "RS512", "PS256":
		return familyRSA
	case "ES256", "ES384":
		return familyECDSA
	case "EdDSA":
		return familyEdDSA
	default:
		return familyUnknown
	}
}

// minHMACBytes is the secret size RFC 7518 requires for the strongest HMAC
// algorithm listed: at least the hash output size.
func minHMACBytes(algs []string) int {
	n := 32
	for _, alg := range algs {
		switch alg {
		case "HS384":
			n = max(n, 48)
		case "HS512":
			n = max(n, 64)
		}
	}
	return n
}

// keyFits reports whether key can verify alg: the key type must match the
// algorithm's family (and curve), so no key is ever used across families.
func keyFits(alg string, key any) bool {
	switch familyOf(alg) {
	case familyHMAC:
		b, ok := key.([]byte)
		return ok && len(b) > 0
	case familyRSA:
		k, ok := key.(*rsa.PublicKey)
		return ok && k.N != nil && k.N.BitLen() >= minRSABits
	case familyECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		}
		return false
	case familyEdDSA:
		k, ok := key.(ed25519.PublicKey)
		return ok && len(k) == ed25519.PublicKeySize
	default:
		return false
	}
}

func keyFitsAny(algs []string, key any) bool {
	for _, alg := range algs {
		if keyFits(alg, key) {
			return true
		}
	}
	return false
}

// parsePublicKeyPEM reads one PEM block holding a public key: PKIX "PUBLIC
// KEY", PKCS#1 "RSA PUBLIC KEY" or a "CERTIFICATE". Private keys are refused.
func parsePublicKeyPEM(s string) (any, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("pem: no PEM block found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("pem: expected exactly one PEM block")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, errors.New("pem: block must be a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE")
	}
	if err != nil {
		return nil, errors.New("pem: cannot parse the public key")
	}
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return key, nil
	default:
		return nil, errors.New("pem: unsupported public key type")
	}
}
