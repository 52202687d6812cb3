// Package testkit holds test helpers shared by continuity's packages. It is
// imported only from _test.go files, so the library itself never links the
// S3 client.
//
// # Object storage
//
// [Buckets] lists the object-storage backends a test suite must pass on, and
// [RunBuckets] runs a test once per backend as subtests named "file", "mem"
// and "s3":
//
//	func TestPublish(t *testing.T) {
//		testkit.RunBuckets(t, func(t *testing.T, b *blob.Bucket) {
//			// b is empty and private to this subtest; it is closed by t.Cleanup.
//		})
//	}
//
// The backends are gocloud.dev/blob drivers, all registered by this package:
//
//	file  localblob over t.TempDir(), the driver continuity opens file:// with
//	mem   memblob, a new in-memory bucket per Open
//	s3    s3blob against the bucket named by $CONTINUITY_TEST_S3_URL, each
//	      Open under its own random key prefix (blob.PrefixedBucket)
//
// .ci/run builds versitygw (an S3 server over a directory), starts it on
// loopback and sets, for example:
//
//	CONTINUITY_TEST_S3_URL='s3://testbucket?endpoint=http://127.0.0.1:PORT&use_path_style=true&region=us-east-1'
//	AWS_ACCESS_KEY_ID=...  AWS_SECRET_ACCESS_KEY=...  CONTINUITY_CI=1
//
// Without $CONTINUITY_TEST_S3_URL the s3 subtests are skipped with a message
// that says how to run them, unless $CONTINUITY_CI is "1": then they fail, so
// that CI never passes without having talked to an S3 server.
// `.ci/run with-s3 CMD...` starts the server and runs CMD with these
// variables set, e.g. `.ci/run with-s3 go test -race ./snapshot/`.
//
// # What the backends guarantee
//
// The conformance test in this package (conformance_test.go) pins down the
// behaviour continuity relies on, on every backend:
//
//   - a missing key reads as gcerrors.NotFound (NewReader, NewRangeReader,
//     Attributes, Delete);
//   - List returns keys in lexicographic order, across pages;
//   - NewRangeReader reads the requested bytes and reports the object's size;
//   - a write with blob.WriterOptions{IfNotExist: true} to an existing key
//     fails at Writer.Close with gcerrors.FailedPrecondition and leaves the
//     existing object unchanged, also when s3 uploads it in parts (an object
//     larger than WriterOptions.BufferSize).
//
// On all three IfNotExist is atomic: of many concurrent writers of one new
// key exactly one succeeds (localblob publishes with link(2), which fails
// if the name exists). gocloud's own fileblob, still registered for tests
// that open file:// with blob.OpenBucket, is not: it checks with os.Stat
// and then renames (gocloud.dev v0.47.0).
//
// Where the backends differ, the test records how:
//
//   - a range read that starts at or after the end of an object (offset ==
//     size included, and any length > 0 on an empty object) fails on s3 with
//     HTTP 416 InvalidRange, which gcerrors reports as Unknown; file and mem
//     return no bytes;
//   - keys "a" and "a/b" cannot both exist on file or on versitygw's posix
//     backend (the write fails, gcerrors.Unknown); AWS S3 and mem allow it.
//
// # Waiting
//
// [Eventually] polls a condition until it holds and fails the test after
// [EventuallyTimeout], a minute: a bound on a hang, never a timing
// assertion. Tests use it instead of sleeping and then asserting, and
// instead of polling loops of their own:
//
//	testkit.Eventually(t, func() bool { return c.IsLeader() }, "%s to lead", id)
//
// Where a channel, a context or a method such as WaitFor reports the
// state, a test waits on that instead.
//
// # Concurrency
//
// Buckets and RunBuckets may be called from parallel tests. Each bucket
// returned by Open belongs to the test that opened it.
//
// The buckets leave no goroutines behind on versitygw, which closes the
// connection after most responses (this package's tests run under
// goleak.VerifyTestMain), but not after a HEAD (Attributes, Exists):
// then the S3 client's idle connection outlives Close, and goleak
// reports net/http persistConn goroutines. Packages whose tests ask for
// attributes on S3 ignore those (the root package's TestMain).
package testkit
