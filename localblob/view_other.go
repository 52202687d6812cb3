//go:build !linux

package localblob

import "github.com/continuity-go/continuity/internal/vfs"

// mapRange maps nothing on this system: readers copy.
func mapRange(vfs.File, int64, int64) (view, region []byte, ok bool) { return nil, nil, false }

func unmap([]byte) error { return nil }
