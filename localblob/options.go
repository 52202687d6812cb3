package localblob

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/continuity-go/continuity/internal/vfs"
)

// Options configures a bucket. The zero value is ready to use: every zero
// field takes the default given in its comment.
type Options struct {
	// DirPerm is the permission of the directories the bucket creates:
	// its own directory if missing, and those of keys with slashes. The
	// umask applies. Default 0o700: a file:// bucket is often a backup of
	// plaintext, and only its owner should read it; give 0o750 to let a
	// group enter. Object files are always 0o600 (as vfs creates them),
	// so a group that enters still cannot read them.
	DirPerm os.FileMode

	// Logger receives one Info line when OpenBucket removes temporary
	// files that dead writers left behind. Default: discard.
	Logger *slog.Logger

	// fs is the file system the bucket lives on. Default: the operating
	// system's. This package's tests set a vfs.MemFS to simulate power
	// loss; it is unexported because vfs is internal to this module.
	fs vfs.FS
}

// defaultDirPerm is the permission of new directories: the owner's alone,
// as the objects in them are (fileblob's would be 0o755 after a typical
// umask, which lets anyone list the keys).
const defaultDirPerm os.FileMode = vfs.DirMode

// withDefaults returns a copy of o with every zero field set to its
// default.
func (o Options) withDefaults() Options {
	if o.DirPerm == 0 {
		o.DirPerm = defaultDirPerm
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.fs == nil {
		o.fs = vfs.Default()
	}
	return o
}

// Validate reports every field that is out of range, joined.
func (o Options) Validate() error {
	var errs []error
	if o.DirPerm&^os.ModePerm != 0 {
		errs = append(errs, fmt.Errorf("localblob: Options.DirPerm %v has bits beyond the permission bits", o.DirPerm))
	} else if o.DirPerm != 0 && o.DirPerm&0o700 != 0o700 {
		errs = append(errs, fmt.Errorf("localblob: Options.DirPerm %#o does not let the owner read, write and enter the directories it makes", uint32(o.DirPerm)))
	}
	return errors.Join(errs...)
}
