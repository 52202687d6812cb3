package localblob

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// On-disk layout. These names are part of the format of a bucket's
// directory and must not change: a bucket cleans up only the temporary
// files it recognises, and hides only these names from listings.
const (
	// tmpDirName is the temporary area, directly under the bucket's
	// directory.
	tmpDirName = ".localblob-tmp"

	// sidecarExt ends the attribute files fileblob writes beside its
	// objects; no key maps to a file name ending in it.
	sidecarExt = ".attrs"

	// escapeStart begins an escaped rune: "__0x" hex "__".
	escapeStart = "__0x"
)

// quoteKey quotes a key for an error message.
func quoteKey(key string) string { return strconv.Quote(key) }

// keyPath returns the path of key's file relative to the bucket's
// directory, with "/" between elements (see the package doc for the
// escaping). It fails, wrapping ErrInvalidKey, for an empty or non-UTF-8
// key and for a key in the temporary area. The result has no empty, "."
// or ".." element, no NUL and no separator inside an element, so joined to
// the bucket's directory it stays inside it; and pathKey(keyPath(k)) == k.
func keyPath(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if !utf8.ValidString(key) {
		return "", fmt.Errorf("%w: %q is not UTF-8", ErrInvalidKey, key)
	}
	r := []rune(key)
	esc := make([]bool, len(r))
	for i, c := range r {
		switch {
		case c < 0x20 || c == 0x7f:
			esc[i] = true
		case c == '/':
			// Keep only slashes with something on both sides, so that no
			// element is empty.
			esc[i] = i == 0 || r[i-1] == '/' || i == len(r)-1
		case c == '_':
			// So that a literal "__0x" never reads as an escape.
			esc[i] = strings.HasPrefix(string(r[i:min(i+len(escapeStart), len(r))]), escapeStart)
		case os.PathSeparator != '/' && (c == os.PathSeparator || strings.ContainsRune(`<>:"|?*`, c)):
			esc[i] = true
		}
	}
	// The elements are the runs between the slashes kept.
	start := 0
	for i := 0; i <= len(r); i++ {
		if i < len(r) && (r[i] != '/' || esc[i]) {
			continue
		}
		elem := string(r[start:i])
		if elem == "." || elem == ".." {
			esc[start] = true
		}
		if i == len(r) && strings.HasSuffix(elem, sidecarExt) {
			esc[i-len(sidecarExt)] = true
		}
		start = i + 1
	}
	var b strings.Builder
	for i, c := range r {
		if esc[i] {
			fmt.Fprintf(&b, "__0x%x__", c)
		} else {
			b.WriteRune(c)
		}
	}
	p := b.String()
	if first, _, _ := strings.Cut(p, "/"); first == tmpDirName {
		return "", fmt.Errorf("%w: %q lies in the temporary area %s/", ErrInvalidKey, key, tmpDirName)
	}
	return p, nil
}

// pathKey returns the key whose path (relative, "/" between elements) is
// p: it replaces every escape "__0x<hex>__" by its rune. A path this
// package did not make may decode to a key whose keyPath is another path;
// List skips such files.
func pathKey(p string) string {
	if !strings.Contains(p, escapeStart) {
		return p
	}
	var b strings.Builder
	for {
		i := strings.Index(p, escapeStart)
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		b.WriteString(p[:i])
		rest := p[i+len(escapeStart):]
		j := strings.Index(rest, "__")
		if j > 0 && j <= 8 {
			if v, err := strconv.ParseUint(rest[:j], 16, 32); err == nil && isHex(rest[:j]) && v <= utf8.MaxRune {
				b.WriteRune(rune(v))
				p = rest[j+2:]
				continue
			}
		}
		// Not an escape: keep its first byte and look again after it.
		b.WriteByte(p[i])
		p = p[i+1:]
	}
}

// isHex reports whether s is lowercase hexadecimal digits only.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
