package tenant

import (
	"encoding/hex"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/zeebo/blake3"
)

// MaxIDBytes bounds a tenant ID.
const MaxIDBytes = 255

// Tag is a tenant's pseudonym in records and object names: see the
// package doc.
type Tag [16]byte

// String is the tag in hex, as object names use it.
func (t Tag) String() string { return hex.EncodeToString(t[:]) }

// ParseTag parses a tag's hex form.
func ParseTag(s string) (Tag, error) {
	var t Tag
	if len(s) != 2*len(t) {
		return t, fmt.Errorf("tenant tag %q: want %d hex digits", s, 2*len(t))
	}
	if _, err := hex.Decode(t[:], []byte(s)); err != nil {
		return t, fmt.Errorf("tenant tag %q: %w", s, err)
	}
	return t, nil
}

// Tagger computes tags under one repository's name key. Safe for
// concurrent use.
type Tagger struct {
	key [32]byte
	// hashers keeps keyed hashers for reuse: making one costs about
	// 2 µs, twenty times sealing a small event.
	hashers sync.Pool
}

// NewTagger returns a Tagger for the key (snapshot.Repo.NameKey).
func NewTagger(key [32]byte) *Tagger {
	g := &Tagger{key: key}
	g.hashers.New = func() any {
		h, err := blake3.NewKeyed(g.key[:])
		if err != nil {
			panic(err) // only for a key that is not 32 bytes
		}
		return h
	}
	return g
}

// Tag is id's tag.
func (g *Tagger) Tag(id string) Tag {
	h := g.hashers.Get().(*blake3.Hasher)
	defer g.hashers.Put(h)
	h.Reset()
	h.WriteString(id)
	var sum [32]byte
	var t Tag
	copy(t[:], h.Sum(sum[:0]))
	return t
}

// CheckID reports whether id can name a tenant: 1 to MaxIDBytes bytes of
// UTF-8.
func CheckID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("tenant: the tenant ID is empty")
	case len(id) > MaxIDBytes:
		return fmt.Errorf("tenant: the tenant ID has %d bytes, more than %d", len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("tenant: the tenant ID %q is not UTF-8", id)
	}
	return nil
}
