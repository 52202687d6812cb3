package localblob

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyPath(t *testing.T) {
	cases := []struct {
		name, key, path string
	}{
		{"plain", "config", "config"},
		{"nested", "data/ab/cdef0123", "data/ab/cdef0123"},
		{"dots inside", "a.b/..c/d..", "a.b/..c/d.."},
		{"underscores", "a_b/__c/_0x1", "a_b/__c/_0x1"},
		{"unicode", "ä/☺", "ä/☺"},
		{"hidden but not the temp area", ".localblob/x", ".localblob/x"},
		{"temp area name below the top", "a/.localblob-tmp", "a/.localblob-tmp"},
		{"temp area name with a trailing slash", ".localblob-tmp/", ".localblob-tmp__0x2f__"},
		{"double slash", "a//b", "a/__0x2f__b"},
		{"triple slash", "a///b", "a/__0x2f____0x2f__b"},
		{"leading slash", "/a", "__0x2f__a"},
		{"trailing slash", "a/", "a__0x2f__"},
		{"only a slash", "/", "__0x2f__"},
		{"dot", ".", "__0x2e__"},
		{"dot dot", "..", "__0x2e__."},
		{"dot element", "a/./b", "a/__0x2e__/b"},
		{"dot dot element", "../a/..", "__0x2e__./a/__0x2e__."},
		{"sidecar name", "x.attrs", "x__0x2e__attrs"},
		{"sidecar name as a directory", "x.attrs/y", "x.attrs/y"},
		{"escape lookalike", "__0x41__", "__0x5f___0x41__"},
		{"control characters", "a\x00b\nc\x7f", "a__0x0__b__0xa__c__0x7f__"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := keyPath(c.key)
			require.NoError(t, err)
			want := c.path
			if os.PathSeparator != '/' {
				t.Skip("escapes differ where the separator is not /")
			}
			assert.Equal(t, want, p)
			assert.Equal(t, c.key, pathKey(p), "round trip")
		})
	}
}

func TestKeyPathRefuses(t *testing.T) {
	for _, key := range []string{"", "\xbd\xb2", ".localblob-tmp", ".localblob-tmp/x", ".localblob-tmp//x"} {
		t.Run(key, func(t *testing.T) {
			_, err := keyPath(key)
			assert.ErrorIs(t, err, ErrInvalidKey)
		})
	}
}

// checkKeyPath checks what keyPath promises for key.
func checkKeyPath(t *testing.T, key string) {
	p, err := keyPath(key)
	if err != nil {
		require.ErrorIs(t, err, ErrInvalidKey)
		inTmp := key == tmpDirName || strings.HasPrefix(key, tmpDirName+"/")
		require.True(t, key == "" || !utf8.ValidString(key) || inTmp, "refused %q: %v", key, err)
		return
	}
	elems := strings.Split(p, "/")
	require.NotEqual(t, tmpDirName, elems[0], "key %q lands in the temporary area", key)
	for _, e := range elems {
		require.NotContains(t, []string{"", ".", ".."}, e, "key %q: element %q of %q", key, e, p)
		require.NotContains(t, e, "\x00")
		require.NotContains(t, e, string(os.PathSeparator))
		require.False(t, strings.HasSuffix(p, sidecarExt), "key %q: %q looks like a fileblob attribute file", key, p)
	}
	dir := filepath.FromSlash("/bucket/dir")
	abs := filepath.Join(dir, filepath.FromSlash(p))
	require.True(t, strings.HasPrefix(abs, dir+string(os.PathSeparator)), "key %q escapes: %q", key, abs)
	require.Equal(t, filepath.Clean(abs), abs, "key %q: %q is not clean", key, abs)
	require.Equal(t, key, pathKey(p), "key %q: round trip through %q", key, p)
}

// FuzzKeyPath checks that no key leaves the bucket's directory, lands in
// the temporary area or makes an ambiguous path: every path decodes back
// to its key, so no two keys share one.
func FuzzKeyPath(f *testing.F) {
	for _, s := range []string{"a", "a//b", "../x", "x.attrs", "__0x2f__", ".localblob-tmp/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		checkKeyPath(t, key)
	})
}

// TestPathKeyForeignNames checks that files keyPath cannot have made
// (found in a directory fileblob or a person wrote) are not taken for an
// object: List shows a file only if keyPath of its decoded key gives its
// name back.
func TestPathKeyForeignNames(t *testing.T) {
	for _, name := range []string{"__0x__", "__0xzz__", "__0x41", "__0x110000__", "__0xABC__", "a__0x2f", "x.attrs", ".."} {
		t.Run(name, func(t *testing.T) {
			p, err := keyPath(pathKey(name))
			if err == nil {
				assert.NotEqual(t, name, p)
			}
		})
	}
}
