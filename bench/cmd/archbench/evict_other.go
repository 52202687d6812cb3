//go:build !(linux && (amd64 || arm64))

package main

import "errors"

// canEvict says whether evictTree works on this platform.
const canEvict = false

// evictTree is not available here: reads may come from the page cache.
func evictTree(string) error {
	return errors.New("evicting files from the page cache is not supported on this platform")
}
