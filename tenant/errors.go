package tenant

import (
	"errors"
	"fmt"
)

// ErrShredded: the tenant's key was destroyed (ForgetTenant); what it
// sealed opens nowhere.
var ErrShredded = errors.New("tenant: the tenant's key was destroyed")

// ErrDamaged: a sealed event or key record does not authenticate under
// its tenant's key (damaged, or planted by someone without the key).
var ErrDamaged = errors.New("tenant: record does not authenticate")

// ErrUnknownKey: a sealed event names a key no key or forget record
// before it named. It wraps ErrDamaged; a restore of one tenant takes
// it for another tenant's event, whose key records it passed over.
var ErrUnknownKey = fmt.Errorf("%w: no key record before it names its key", ErrDamaged)

// ShreddedError says whose key was destroyed. It wraps ErrShredded.
type ShreddedError struct {
	Tag Tag
	Key KeyID
	ID  string // the tenant ID, when it is still known
}

func (e *ShreddedError) Error() string {
	who := "tenant " + e.Tag.String()
	if e.ID != "" {
		who = fmt.Sprintf("tenant %q", e.ID)
	}
	return fmt.Sprintf("%s: key %s was destroyed; its events are shredded", who, e.Key)
}

func (e *ShreddedError) Unwrap() error { return ErrShredded }

// KeyUnavailableError says which tenant's key cannot be unwrapped or
// found, and why: its keeper is gone or refuses, its slot is missing.
type KeyUnavailableError struct {
	ID  string // the tenant ID, if known
	Tag Tag
	Key KeyID
	Err error
}

func (e *KeyUnavailableError) Error() string {
	who := "tenant " + e.Tag.String()
	if e.ID != "" {
		who = fmt.Sprintf("tenant %q (%s)", e.ID, e.Tag)
	}
	return fmt.Sprintf("%s: key %s is unavailable: %v", who, e.Key, e.Err)
}

func (e *KeyUnavailableError) Unwrap() error { return e.Err }
