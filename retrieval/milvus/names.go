package milvus

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ragway/ragway/retrieval"
)

// Name limits.
const (
	maxNameLen     = 255  // a Milvus collection name
	maxReadable    = 24   // the readable part of each of tenant and collection
	maxRefBytes    = 1024 // a tenant, collection, file or chunk id
	hashHexLen     = 32   // 128 bits of SHA-256
	descriptorKind = "ragway.collection/v1"
)

// collectionName maps (tenant, collection) to a Milvus collection name:
// prefix_<tenant>_<collection>_<hash>, where the readable parts keep only
// ASCII letters and digits (truncated) and the hash, over both names
// length-prefixed, makes names of distinct pairs distinct. The result
// matches Milvus's rule: letters, digits and underscores, starting with a
// letter or underscore (the prefix), at most 255 characters.
func collectionName(prefix, tenant, collection string) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range []string{tenant, collection} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	sum := hex.EncodeToString(h.Sum(nil))[:hashHexLen]
	name := prefix + "_" + readable(tenant) + "_" + readable(collection) + "_" + sum
	return name
}

// readable keeps the ASCII letters and digits of s, lowercased, at most
// maxReadable of them.
func readable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxReadable; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

// descriptor is what a Milvus collection's description records, so the
// store can list its collections by their retrieval names.
type descriptor struct {
	Kind       string `json:"kind"`
	Tenant     string `json:"tenant"`
	Collection string `json:"collection"`
}

func describe(tenant, collection string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(descriptor{Kind: descriptorKind, Tenant: tenant, Collection: collection})
	return strings.TrimSpace(b.String())
}

// parseDescriptor reads a description back, refusing one that is not the
// store's or that does not name the collection it describes.
func parseDescriptor(prefix, name, desc string) (retrieval.CollectionRef, bool) {
	var d descriptor
	if len(desc) > 4*maxRefBytes || json.Unmarshal([]byte(desc), &d) != nil || d.Kind != descriptorKind {
		return retrieval.CollectionRef{}, false
	}
	if collectionName(prefix, d.Tenant, d.Collection) != name {
		return retrieval.CollectionRef{}, false
	}
	return retrieval.CollectionRef{Tenant: d.Tenant, Collection: d.Collection}, true
}

// checkRef validates a tenant, collection or file id.
func checkRef(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is required", retrieval.ErrInvalidQuery, what)
	}
	if len(s) > maxRefBytes || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s must be valid UTF-8 of at most %d bytes", retrieval.ErrInvalidQuery, what, maxRefBytes)
	}
	return nil
}

// primaryKey is a chunk's key in its collection: a hash of the file and
// chunk ids, so any chunk id is safe to store and two files may share
// chunk ids, and keys are plain hex wherever they appear in an expression.
func primaryKey(fileID, chunkID string) string {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(fileID)))
	h.Write(n[:])
	h.Write([]byte(fileID))
	h.Write([]byte(chunkID))
	return hex.EncodeToString(h.Sum(nil))[:hashHexLen]
}
