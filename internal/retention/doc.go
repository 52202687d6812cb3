// Package retention decides which snapshots of a host to keep under a
// grandfather-father-son policy, with the semantics of restic's forget
// command. It is pure: no IO, no clock, no goroutines.
//
//	p := retention.Policy{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 10}
//	ds, err := p.Apply(items) // one Decision per item, newest first
//	err = retention.Explain(os.Stdout, ds) // dry-run table for operators
//
// # Order
//
// Snapshots are sorted newest first by instant. Equal instants are ordered
// by ascending ID (the smaller ID counts as the newer), so the result never
// depends on the order of the input. IDs must be unique (ErrDuplicateID).
//
// # Count rules
//
// Last keeps the Last newest snapshots (reason "last snapshot"); Unlimited
// (-1) keeps all of them.
//
// Hourly, Daily, Weekly, Monthly and Yearly each divide time into buckets,
// read in Policy.Location (UTC when nil):
//
//	Hourly   year, month, day, hour of the wall clock
//	Daily    year, month, day
//	Weekly   ISO 8601 year and week (weeks run Monday to Sunday, and
//	         2026-12-31 and 2027-01-01 are both in week 53 of 2026)
//	Monthly  year, month
//	Yearly   year
//
// Each rule walks the snapshots newest first with its own counter, starting
// at the configured n. While the counter is not zero, a snapshot in a bucket
// the rule has not met yet (that is, the newest snapshot of its bucket) is
// kept, with reason "hourly snapshot", "daily snapshot", … and the counter
// drops by one; Unlimited never runs out. So a rule keeps the newest
// snapshot of each of the n most recent buckets that have snapshots:
// buckets without snapshots are not counted, and buckets are aligned to the
// calendar, not to the time Apply runs.
//
// The oldest snapshot: when a rule still has count left on reaching the
// oldest snapshot (there were fewer buckets than n, or n is Unlimited), the
// oldest snapshot is kept as well, even if it is not the newest of its
// bucket, with reason "oldest daily snapshot" and so on. This is restic's
// rule since 0.16: a backup history shorter than the policy keeps its
// first snapshot, so "10 yearly" over a history that started in March keeps
// the March snapshot too, not only the last snapshot of that year. A
// consequence worth knowing: an Unlimited bucket rule always keeps the
// oldest snapshot.
//
// # Duration rules
//
// Durations are measured back from the newest snapshot, never from the wall
// clock: if backups stop, or the clock jumps forward, Apply does not start
// removing the history. A snapshot is within d if it is strictly newer than
// the newest snapshot minus d; one exactly d older is not.
//
// Within keeps every snapshot within Within (reason "within 720h0m0s").
//
// WithinHourly … WithinYearly are the bucket rules without a counter,
// limited to the snapshots within the duration: the newest snapshot of every
// bucket within the duration is kept (reason "daily within 168h0m0s"). If
// every snapshot is within the duration, the oldest snapshot is kept too
// ("oldest daily within 168h0m0s"), as for the count rules.
//
// # Tags
//
// Tags keeps every snapshot carrying any of the listed tags (reason
// "tag prod"). Tags are not counted: a tagged snapshot still uses up a
// count rule's counter if it is the newest of its bucket.
//
// # Combining and refusing
//
// A snapshot is kept if any rule keeps it; its Decision lists every rule
// that does. Rules do not interact: a snapshot kept by one rule is still
// counted by the others, so "7 daily, 4 weekly" over daily snapshots keeps
// 7 + 3 snapshots (the newest daily snapshot is also the newest weekly one).
//
// Apply refuses an empty policy (ErrEmptyPolicy) rather than remove
// everything, and refuses to remove every snapshot (ErrRemoveAll). Any
// count or duration rule keeps the newest snapshot; only a policy of Tags
// alone can remove it, or everything.
//
// Increasing a count, making it Unlimited, lengthening a duration or adding
// a tag never removes a snapshot that was kept.
//
// # Differences from restic
//
//   - Durations are exact time.Durations. restic's --keep-within 1d is a
//     calendar day (23 or 25 hours across a DST change) and 1m a calendar
//     month.
//   - Buckets are read in one Location for all snapshots. restic reads each
//     snapshot in the UTC offset recorded with it, i.e. the backup host's
//     local time at backup time.
//   - Ties between equal timestamps are broken by ID; restic keeps the
//     input order (a stable sort).
//   - A bucket rule remembers every bucket it has met; restic compares with
//     the bucket of the last snapshot the rule kept. The two agree unless a
//     clock change moves local time back across a bucket boundary.
//   - Tags match any single tag. restic's --keep-tag takes tag lists
//     (a,b means both), and an empty tag there means "untagged"; here an
//     empty tag is invalid.
//   - restic ignores snapshots dated after the wall clock when finding the
//     newest snapshot; having no clock, Apply measures from the newest
//     snapshot whatever its date. Filter out snapshots from the future
//     before calling Apply if that matters.
//   - Reasons for duration rules print the duration as time.Duration does
//     ("within 168h0m0s", not "within 7d").
//
// # Daylight saving time
//
// Buckets follow the wall clock of Location. On the day clocks go back, the
// repeated hour is one hourly bucket (01:30 EDT and 01:15 EST are both hour
// 1 on 2026-11-01 in America/New_York, and only the later is the newest of
// it); on the day they go forward the skipped hour simply has no
// snapshots. Days are calendar days of 23, 24 or 25 hours.
//
// # Concurrency
//
// Policy, Apply and Explain keep no state; they are safe to call
// concurrently as long as nobody modifies the Policy or the items meanwhile.
package retention
