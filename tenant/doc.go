// Package tenant seals each tenant's events under the tenant's own data
// key and keeps those keys, so that destroying one key shreds one
// tenant's data in every copy of the log, the archive and the snapshots,
// while every other tenant's history stays whole.
//
// The root package drives it: a Node seals a tenant's events before they
// enter the log (Sealer, Seal), appends key records when a tenant is
// created or forgotten (KeyRecord, ForgetRecord), and its applier opens
// sealed events with the keys the Registry holds.
//
// # Names
//
// A record never names its tenant. Key and forget records carry a Tag,
// the first 16 bytes of keyed BLAKE3 of the tenant ID under a key of the
// repository (snapshot.Repo.NameKey) that never changes. Whoever reads
// the bucket or a node's disk without the repository key cannot tell
// which customer a record belongs to, nor test a guess; with the key, a
// restore of one tenant finds its key records by tag. The ID itself is
// stored once, sealed under the tenant's key in its key record, so it is
// shredded with it.
//
// A sealed event names only its key, a random KeyID that no other key
// of the log takes (the node draws again while its registry knows the
// ID, and a registry refuses a key record giving a known ID to another
// tenant). The Registry finds the tenant from the key records before the
// event: it keeps every key it has learned, retired ones too, so that an
// event of a replaced or forgotten key reads as shredded, not damaged.
//
// # Sealed events (wal record kind KindSealed)
//
//	off   size  field
//	  0      1  version (3)
//	  1      8  key ID
//	  9   1–10  generation epoch   } the generation: the epoch and LSN of a
//	  .   1–10  generation LSN     } durable KindGeneration record
//	  .   1–10  counter            the seal's number within the generation
//	  h   n+16  AES-256-GCM of the event, bytes [0, h) as additional data
//
// The three numbers are minimal uvarints (encoding/binary; a longer
// encoding of a number does not parse). The header is 12 bytes while all
// three are below 128, 20 with an LSN and a counter near 2^32, and at most
// 39. Earlier builds wrote versions 1 and 2, which every build reads:
// both put the 16-byte tenant tag between the version and the key ID;
// version 2 has the numbers as above, version 1 each in 8 bytes
// little-endian (h = 49).
//
// The record key is HKDF-SHA-256(data key, info "continuity/tenant/v1/
// record" || generation epoch || generation LSN); the nonce is the counter
// (8 bytes little-endian) and four zero bytes. Both are the same in
// either version: the version only changes how the header spells them.
//
// # Why nonces never repeat
//
// A (record key, nonce) pair repeats only if one data key seals twice
// under the same generation and counter. A writer takes a generation by
// appending a KindGeneration record and making it durable (fdatasync)
// before its first seal; the generation is that record's (epoch, LSN).
// Within a generation, one process numbers seals from an atomic counter
// that only increases (2^64 values). So a repeat needs two writers, or two
// lives of one writer, to take the same (epoch, LSN):
//
//   - Two nodes: only the primary of an epoch appends in it (fencing), and
//     a node cut back by a rejoin appends again only in a later epoch.
//   - Two lives of one node: the first life's generation record was
//     durable before any seal under it, so after a restart the log ends at
//     or past that LSN and the next generation record takes a later one.
//     A seal from the first life that reached no disk is lost with its
//     record; one that reached another copy (a standby, the archive) came
//     after its generation record in that copy, which is a prefix of the
//     history, so no later life reuses that LSN there.
//
// Sealing happens in the appending goroutine, before the log assigns the
// LSN, so the AES work of concurrent writers runs on every core instead
// of in the log's commit leader; the price is 12 to 20 bytes of header per
// sealed event. TestNonceUniqueness checks the rule under restarts and
// fail-overs (rapid).
//
// # Keys
//
// A data key is 32 random bytes. Its slot (Slot) holds it wrapped: by
// nothing more than the repository key that seals the slot object, or by
// the tenant's own gocloud secrets keeper (a customer-managed KMS key),
// whose loss makes exactly that tenant unreadable. Slots are stored in
// the archive (tenants/<tag>/<key ID>) and as a copy on each node; they
// are never in the log, whose copies cannot be rewritten. The log carries
// only the facts, in order: a key exists (KindKey), a key is destroyed
// (KindForget). Forgetting deletes every slot; what the key sealed then
// opens nowhere.
package tenant
