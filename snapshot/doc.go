// Package snapshot stores a host's full state as deduplicated, compressed,
// encrypted snapshots in an object-store bucket (gocloud.dev/blob: S3, GCS,
// Azure, a local directory), restores any of them bit-exactly, expires old
// ones under a grandfather-father-son policy, and verifies what is stored.
//
// A host's state machine writes its state to an io.Writer; Save reads it
// as a stream (never whole in memory), cuts it into content-defined
// chunks, and uploads only the chunks the repository does not hold. The
// second snapshot of a mostly unchanged state costs the changed bytes and
// a few chunks around each change.
//
//	bucket, _ := blob.OpenBucket(ctx, "file:///var/backups/orders") // or s3://…
//	repo, _ := snapshot.Init(ctx, bucket, snapshot.Passphrase(pw), snapshot.Format{}, snapshot.Options{})
//	// later: repo, _ := snapshot.Open(ctx, bucket, snapshot.Passphrase(pw), snapshot.Options{})
//	pr, pw := io.Pipe()
//	go func() { pw.CloseWithError(sm.Snapshot(pw)) }()
//	m, stats, err := repo.Save(ctx, pr, snapshot.Meta{LSN: lsn, Epoch: epoch})
//	pr.CloseWithError(err) // if Save stopped early, unblock sm.Snapshot
//	err = repo.Restore(ctx, m.ID, w)
//	decisions, err := repo.Forget(ctx, snapshot.Policy{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 10}, false)
//	stats, err := repo.Prune(ctx, snapshot.PruneOptions{})
//	report, err := repo.Verify(ctx, snapshot.VerifyOptions{ReadData: true})
//
// # Glossary
//
// Chunk: a piece of the state stream, cut where the content says (FastCDC
// with a gear table derived from the repository's secret, so boundaries
// reveal nothing about content to whoever holds the bucket; 32/64/256 KiB
// min/average/max by default, see internal/cdc for the measurements that
// chose them). An edit anywhere changes only the chunks around it.
//
// Blob: a stored chunk (type data) or a block of the chunk list (type
// tree), named by its ID.
//
// ID: keyed BLAKE3-256 of the blob's plaintext, with a key derived from
// the repository's master key (tree blocks use a second key), so names do
// not reveal hashes of plaintext. Two blobs are the same only if all 256
// bits agree: the in-memory index hashes on 64 bits of the ID (already a
// uniformly distributed keyed hash, so xxhash over it would add nothing)
// and compares the whole ID. The chance that two distinct chunks among n
// share an ID is at most n²/2^257: below 2^-177 for 2^40 chunks (64 PiB of
// unique data at 64 KiB), so a collision is not a practical concern.
//
// Pack: an object under data/ holding many sealed blobs (~16 MiB,
// Options.PackBytes), because object stores charge per request and handle
// millions of tiny objects badly. A pack ends with its own list of blobs,
// sealed, so it is self-describing.
//
// Index: objects under index/ saying which pack holds each blob, at which
// offset and length. Open loads them all (about 80 bytes of memory per
// blob). If an index object is lost, RepairIndex rebuilds the entries from
// the packs' own blob lists.
//
// Manifest: an object under snapshots/ describing one snapshot: ID,
// parent, time, host, tags, labels, the WAL LSN and epoch the state
// covers, sizes, and the root of its chunk list. The chunk list is itself
// cut into tree blocks of ~8 IDs at content-defined places (IDs with
// three given bits zero) and stored as blobs, level over level, so a huge
// state has a small manifest, an unchanged state stores no new tree
// blocks, and a changed chunk rewrites about 256 bytes of list per level.
//
// Key slot: an object under keys/ holding the master key wrapped by one
// KeyProvider: a raw 32-byte key, a passphrase (argon2id, costs stored in
// the slot) or a gocloud.dev/secrets keeper (AWS/GCP/Azure KMS, Vault,
// base64key:// locally) for envelope encryption. Any slot opens the
// repository; AddKey, RemoveKey and RotateKey write or delete slots only,
// never data.
//
// # Key epochs
//
// RotateKey changes the key that opens a slot, not the master key.
// RotateMaster changes the master key: it starts key epoch n+1 with a
// new random master key, under which every object is sealed from then
// on (in this process at once, in others within
// Options.KeyCheckInterval, default 1 minute: a writer looks for a newer
// epoch at most that often before it seals). Every slot is re-wrapped
// (format 3: a key set, epochs.go), with its own key or dropped; the
// older epochs' master keys stay in the bucket sealed under the new one
// (epochs/<epoch>), so what they sealed stays readable. Reencrypt
// reseals that (packs copied in batches, other objects in place; it
// resumes where an interruption left it) and, with Retire, deletes the
// older keys once nothing needs them and the epoch is
// 2×KeyCheckInterval old. A key slot kept from before (a copy, an old
// version in a versioned bucket) then opens nothing that remains. The
// chunk-ID, tree-ID and gear keys never change, so snapshot IDs and
// deduplication survive rotation: whoever holds an old key can still
// tell whether a guessed chunk is stored (its ID), never read one.
//
// # Hostile buckets
//
// Whoever can write to the bucket can plant or alter key slots, which
// are read before anything authenticates. Open bounds what that costs:
//
//   - A passphrase slot asking for argon2id costs above
//     MaxPassphraseParams (256 MiB, t=8, 16 lanes: about ten times the default cost) is refused
//     when it is decoded, before any derivation (ErrSlotCost).
//     PassphraseWith refuses costs below MinPassphraseParams (RFC 9106's
//     second recommended option: 64 MiB, t=3; ErrWeakPassphrase).
//   - Open tries only slots of the provider's kind, newest first, at most
//     Options.MaxKeySlots (default 16) of them; if none opens and there
//     are more, it returns ErrTooManySlots instead of trying the rest.
//   - A format 2 key slot (written by AddKey, RotateKey and Init since
//     this release) carries an HMAC-SHA-256, under a key derived from the
//     master key, of its kind, label, created time, parameters and
//     wrapped key; its wrapped key is sealed under format-2 additional
//     data, so it cannot be passed off as a format 1 slot. A slot altered
//     in the bucket fails to open with ErrCorrupt even with the right key,
//     and Repo.Keys lists it with Verified unset. Format 1 slots (older
//     releases) carry no MAC and still open; their label and time can be
//     rewritten in the bucket until RotateKey replaces them (Open logs a
//     warning when it opens one; nothing rewrites slots on its own).
//     Inspect, which has no key, shows labels as unverified.
//   - Objects sealed by this build are authenticated in 1 MiB pieces as
//     they are read (pieces.go): a planted object costs a reader one
//     piece, whatever size it claims. Objects read whole before they
//     authenticate (key slots, older builds' single-piece objects, at
//     most 64 MiB) have a size limit checked before anything is
//     allocated; packs are read with the size their index records, and
//     RepairIndex reads an unindexed pack's trailer by range (at most
//     46 MiB) and authenticates it before reading the pack.
//
// Config: the object "config": format version, repository ID (in the
// clear) and, sealed, the chunker parameters and codec.
//
// Lock: objects under locks/; see Concurrency.
//
// # Crypto-shredding
//
// Repo.DestroyKeys deletes every object under keys/ (damaged ones too)
// and, unless DestroyOptions.KeepConfig, the config, after checking
// DestroyOptions.Confirm against the repository ID; it leaves the
// object "destroyed" (no secret in it) so that Open returns
// ErrDestroyed, and the Repo zeroes its keys and refuses every call.
// Packs, indexes and manifests stay where they are, undecryptable. It
// cannot reach other copies: a bucket with versioning or object lock
// may keep old versions of keys/ (the report says so on S3; elsewhere
// it says "unknown"), and key files, passphrases, KMS keys, processes
// that have the repository open, local WALs, standbys, restored state
// and copies of the bucket are for their owners to destroy.
//
// # Formats
//
// Every object starts with a 48-byte header: magic "\x89CSNAP\r\n", a
// uint16 format version, the object kind, the key epoch (uint32; zero in
// version 1 and in key slots), one zero byte and a random 32-byte salt.
// All integers are little-endian and every length is checked against the
// bytes left before anything is allocated; a version outside the
// readable range is a *VersionError.
//
//	| version | objects                                                    |
//	|---------|------------------------------------------------------------|
//	| 1       | the first format (epoch 0); packs under epoch 0             |
//	| 2       | header carries the key epoch; packs after a rotation; index |
//	|         | bodies carry each pack's epoch                              |
//	| 3       | config, index, manifest, lock, epochs, sealed objects:      |
//	|         | body sealed in pieces (pieces.go)                           |
//
// Key slots have their own versions (1: no MAC; 2: MAC; 3: wraps a key
// set), see keys.go.
//
//	config    header | repository ID (16) | sealed pieces
//	index     header | sealed pieces          body: packs, each with its blobs
//	manifest  header | sealed pieces
//	lock      header | sealed pieces
//	epochs    header | sealed pieces          the older epochs' master keys
//	destroyed header | repository ID (16) | time (8) | xxhash64
//	key slot  header | kind, label, created, params, wrapped key | MAC | xxhash64
//	pack      header | AES-GCM(blob) … | AES-GCM(blob list) | uint32 length
//
// # Encryption
//
// Always on. A 64-byte random master key, wrapped in the key slots, gives
// through HKDF-SHA-256 (salt: the repository ID) separate keys for
// encryption, data chunk IDs, tree block IDs and the chunker's gear table
// (after a rotation, each epoch's master key gives its encryption key;
// the ID keys stay). Each object (and each pack) is sealed with
// AES-256-GCM under its own key, HKDF of its epoch's encryption key and
// the object's random 32-byte salt. Nonces
// are counters inside the object (a blob's nonce is its offset in the
// pack), so a nonce never repeats under a key, and two objects share a key
// only if their salts collide: probability n²/2^257 for n objects. This is
// kopia's per-object key derivation rather than random 96-bit GCM nonces
// under one key, which are safe only to about 2^32 messages. AES-GCM runs
// at several GB/s with AES-NI; XChaCha20-Poly1305 was measured too (see
// bench/README.md).
//
// The additional data binds every sealed part to where it belongs: object
// bodies to their header (kind, epoch, salt) and the repository ID; blobs to the
// repository ID, the blob type and the blob ID (and, through the nonce, to
// their offset). A blob moved within or between packs, an object of
// another repository, or a flipped bit fails authentication (ErrCorrupt).
// A manifest copied under another snapshot's name authenticates but names
// another ID inside (ErrReplayed). Restore re-hashes every chunk and
// compares the ID before writing it, so only verified plaintext reaches
// the writer.
//
// # Compression
//
// Per blob: lz4 by default (the hot path), or zstd chosen at Init for
// archive repositories. A blob that does not shrink is stored raw. The
// codec is recorded per blob, so blobs of several codecs coexist.
//
// # Retention
//
// Forget applies a Policy with restic's forget semantics: keep-last,
// hourly, daily, weekly (ISO weeks), monthly, yearly counts (the newest
// snapshot of each of the last n periods that have snapshots), keep-within
// (measured from the newest snapshot, never the wall clock, so an old
// archive is not wiped by a wrong clock), and tags. Each Decision lists
// every rule that keeps the snapshot; dry runs show them with
// ExplainDecisions. Forget deletes manifests only; Prune frees the data.
//
// # Concurrency
//
// A Repo is safe for concurrent use, and several processes may use one
// repository. Save takes a shared lock and Prune an exclusive one, as
// objects under locks/ refreshed every Options.LockStale/4 (a lock older
// than LockStale is presumed dead, and its holder stops at LockStale/2); a taker writes its lock, lists the
// others and backs off on a conflict, so Save and Prune never overlap.
// Prune is crash-safe at every step: it writes new packs, then one index
// naming every kept pack, then deletes the old indexes, and only then the
// packs no index names. A crashed Save leaves packs that no index names;
// Prune deletes them once they are older than LockStale. Objects are
// written with IfNotExist and never modified (on file:// buckets the
// check is not atomic between concurrent writers; names are random, so
// only a deliberate overwrite could race).
//
// Save runs Options.Workers workers that hash and compress runs of
// consecutive chunks (each into a pack of its own, so a restore reads
// long ranges) and Options.Uploads uploaders that seal each full pack's
// blobs and upload it; memory is bounded by
// about (Workers + 1 + 2×Uploads) × PackBytes whatever the state's size.
// Restore and Verify take the shared lock too, except in a repository
// opened with Options.ReadOnly (read-only credentials, an immutable copy),
// where they write nothing and everything that writes returns
// ErrReadOnly. Restore fetches ranges of
// up to 4 MiB of packs with max(Workers, Uploads) goroutines, which also
// decrypt, decompress and check, and writes in order: at most
// 2×max(Workers, Uploads) ranges are in flight, each holding its read
// (incompressible chunks are written from it, where they were decrypted)
// and the plaintext of its compressed chunks, so a restore holds up to
// about 4×max(Workers, Uploads)×4 MiB. Where the bucket lends a range
// instead (localblob maps the pack file), nothing is read into a buffer:
// chunks are decrypted out of the mapping into the plaintext buffer.
//
// # Durability of file:// buckets
//
// Object stores make a written object durable before the write returns.
// For a local directory, open the bucket with continuity's localblob
// package (localblob.OpenBucket, or localblob.Open for a file:// URL, as
// the Node's default archive and examples/ctl do): it fsyncs each object
// and its directory before the write returns and publishes IfNotExist
// writes with link(2), so what Save wrote survives a power cut and two
// writers never both create one name (the caveat under Concurrency is
// about fileblob). gocloud.dev's fileblob, which blob.OpenBucket uses for
// file:// URLs, renames a temporary file into place without an fsync:
// after a power cut (not a process crash) a manifest may survive while a
// pack it needs does not. Verify finds that; Prune refuses to run over
// it. With fileblob, sync the file system after Save (syncfs, or `sync`).
//
// # Errors
//
// Failures tied to an object are *ObjectError{Object, Offset, Err} with Err
// one of ErrMissing (gone from the bucket), ErrCorrupt (fails
// authentication or decoding), ErrTruncated (shorter than recorded) or
// ErrReplayed; a wrong key is ErrWrongKey; an unknown snapshot
// ErrNotFound. Verify reports damage with the snapshots it affects instead
// of failing.
package snapshot
