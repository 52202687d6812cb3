package vfs

import (
	"fmt"
	"log/slog"
	"runtime"
)

// WarnShared logs a Warn on lg if the directory dir lets its group or
// others in (any bit of 0077), as PostgreSQL refuses a data directory
// with group or world access. It does not refuse: the operator may have
// reasons (a shared backup group) and the fix is one chmod. Errors of
// Stat are ignored; the caller reports its own when it uses dir. Windows
// has no such bits (Go reports 0777 for every directory), so nothing is
// checked there.
func WarnShared(fsys FS, dir string, lg *slog.Logger) {
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := fsys.Stat(dir)
	if err != nil {
		return
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		lg.Warn("directory is open to its group or others: chmod 0700 it, the files under it are plaintext",
			"path", dir, "mode", fmt.Sprintf("%04o", uint32(perm)))
	}
}
