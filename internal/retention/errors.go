package retention

import "errors"

// Sentinel errors. Compare with errors.Is: most are returned wrapped.
var (
	// ErrEmptyPolicy is returned by Apply for a policy with no rule set
	// (see Policy.Empty). Like restic's forget, we refuse to read an empty
	// policy as "remove everything": a zero Policy is far more likely a
	// missing configuration than a wish to delete every snapshot. To remove
	// everything, the caller must do so deliberately, without a Policy.
	ErrEmptyPolicy = errors.New("retention: empty policy; refusing to decide what to remove")

	// ErrInvalidPolicy is wrapped by every error that Validate reports, one
	// per offending field.
	ErrInvalidPolicy = errors.New("retention: invalid policy")

	// ErrDuplicateID is returned (wrapped, with the ID) by Apply when two
	// items share an ID: decisions are identified and ties are broken by
	// ID, so IDs must be unique.
	ErrDuplicateID = errors.New("retention: duplicate snapshot ID")

	// ErrRemoveAll is returned by Apply when a non-empty policy would keep
	// none of a non-empty list of snapshots. Only a policy whose sole rule
	// is Tags can do that (any count or duration rule keeps the newest
	// snapshot), and like restic's forget we refuse rather than leave a host
	// with no snapshot at all.
	ErrRemoveAll = errors.New("retention: policy would remove every snapshot")
)
