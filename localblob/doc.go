// Package localblob is a gocloud.dev/blob driver for a local directory that
// keeps what it acknowledged: when Writer.Close returns nil, the object
// survives a power loss. It is continuity's default archive, and it also
// opens file:// URLs (Open), so an operator who types file:///path gets it.
//
//	b, err := localblob.OpenBucket("/var/lib/app/archive", nil)
//	// or: localblob.Open(ctx, "file:///var/lib/app/archive")  (also local://, s3://, …)
//	defer b.Close()
//	err = b.WriteAll(ctx, "data/ab/cdef", payload, &blob.WriterOptions{IfNotExist: true})
//
// # Why not fileblob
//
// gocloud.dev's fileblob writes an object to a temporary file (in
// os.TempDir, or beside the object with no_tmp_dir), renames it into place
// and returns: it never fsyncs the file or the directory, so after a power
// cut an object whose write returned may be missing or empty, and a killed
// process strands its temporary files. Its IfNotExist stats the name and
// then renames, so two concurrent writers can both succeed. None of its
// options adds an fsync. A wrapper could reopen and fsync each object after
// Close, but could neither make IfNotExist atomic nor tell which file it
// synced if another writer replaced it meanwhile, hence this driver.
//
// # Layout
//
// An object is a plain file under the bucket's directory; a key's slashes
// are directories ("data/ab/cdef" is data/ab/cdef). Where a key would not
// make a safe or unambiguous path, the rune is written as "__0x<hex>__", as
// fileblob does: control characters, a leading or trailing slash and the
// second of two slashes (so that no path element is empty), the first dot
// of an element "." or "..", the "_" that starts "__0x", and the dot of a
// final ".attrs" (fileblob's attribute files, which this driver never
// writes, does not list, and removes with their object). So a key never
// leaves the directory, and a directory fileblob wrote opens as it is. Keys
// whose first element is ".localblob-tmp", the temporary area, are refused
// (gcerrors.InvalidArgument). As with fileblob, keys "a" and "a/b" cannot
// both exist (the second write fails, gcerrors.Unknown).
//
// # Durability
//
// A write goes to a new file in .localblob-tmp/ inside the bucket's
// directory (the same file system, never listed). Writer.Close then
//
//  1. fsyncs the file (fdatasync on Linux),
//  2. moves it to its key's path: rename(2), which replaces an existing
//     object atomically; or, with WriterOptions.IfNotExist, link(2), which
//     fails if the name exists, so of concurrent writers of a new key
//     exactly one wins and the others get gcerrors.FailedPrecondition, and
//     then removes the temporary name,
//  3. fsyncs the key's directory, and every directory above it up to the
//     bucket's that this bucket has not yet seen durable (directories made
//     for the key included),
//
// and returns nil only after all of them. An error from Close means the
// object may or may not be there. Copy does the same. Delete fsyncs the
// directory before it returns. OpenBucket fsyncs the parent of a directory
// it creates.
//
// Directories emptied by deletes are kept: removing one would race with a
// writer that has just made it and is about to move its object in, and
// would undo what the durable-directory cache above relies on; continuity
// reuses a bounded set of directories (data/00 … data/ff), so they do not
// pile up. Empty directories are not listed.
//
// # Temporary files
//
// Each open bucket holds an advisory lock (flock) on .localblob-tmp/<id>.lock
// and names its temporary files <id>-<n>.tmp. OpenBucket removes the
// temporary files of every id whose lock it can take: those of processes
// that died (or buckets closed) before cleaning up, never those of a live
// bucket, also in another process. A bucket releases its lock when it and
// its last open writer are closed. A directory the process cannot write
// (read-only mount, permissions) opens read-only: reads and listings work,
// writes and deletes fail with ErrReadOnly (gcerrors.PermissionDenied).
//
// # Attributes
//
// Only what the file system keeps durably: size, modification time, an
// ETag made of both, and a content type sniffed from the first 512 bytes
// (http.DetectContentType, the type blob gives a writer that names none).
// A writer's ContentType is not stored: it describes the bytes, and a
// reader is told what the bytes look like. Metadata, CacheControl,
// ContentDisposition, ContentEncoding and ContentLanguage would need a
// second file that cannot be published atomically with the object, so a
// write that sets any of them fails with ErrNotSupported
// (gcerrors.Unimplemented) before anything is stored, rather than lose them
// in a crash: at NewWriter, or, when blob sniffs the content type, at the
// first Write or Close. There is no MD5 (it would cost reading the object)
// and no SignedURL (gcerrors.Unimplemented).
//
// # Listing
//
// List returns keys in byte order across pages, with Prefix and any
// Delimiter. It walks only the directories the prefix and the page token
// leave open, and stops after a page, so a page costs about its own size
// in file-system calls.
//
// # Concurrency
//
// A bucket is safe for concurrent use, and several buckets (in one
// process or several) may share a directory: writes are atomic moves,
// each bucket has its own temporary names, and cleanup spares live
// buckets. A reader keeps reading the object it opened even if the key is
// replaced or deleted meanwhile.
package localblob
