package tenant

import (
	"testing"

	"github.com/zeebo/blake3"
)

// TestTagReusedHasher: a pooled hasher gives the tag a fresh keyed
// hasher gives, however many tags it made before.
func TestTagReusedHasher(t *testing.T) {
	key := [32]byte{9, 8, 7}
	g := NewTagger(key)
	for _, id := range []string{"acme", "globex", "acme", "a-much-longer-tenant-identifier-than-most", "x"} {
		h, err := blake3.NewKeyed(key[:])
		if err != nil {
			t.Fatal(err)
		}
		h.WriteString(id)
		var want Tag
		copy(want[:], h.Sum(nil))
		if got := g.Tag(id); got != want {
			t.Fatalf("Tag(%q) = %s, want %s", id, got, want)
		}
	}
}
