package tenant

import (
	"context"
	"errors"
	"fmt"

	"gocloud.dev/secrets"

	"github.com/continuity-go/continuity/internal/binenc"
)

// Key slots: a data key, wrapped, in an object sealed under the
// repository key (snapshot.Repo.PutSealed, and SealBytes for a node's
// copy) named SlotName. The body:
//
//	off  size  field
//	  0     1  version (1)
//	  1    16  tenant tag
//	 17     8  key ID
//	 25   4+n  keeper name ("": the repository key alone wraps the key)
//	  .   4+m  the data key: as is under the repository key (m = 32),
//	           or the keeper's ciphertext of it
//
// Slots are the only place a data key is stored; they are never in the
// log and never under object lock, so deleting them shreds.
const (
	// SlotPrefix is where the archive keeps the slots.
	SlotPrefix        = "tenants/"
	slotVersion       = 1
	maxWrappedKey     = 8 << 10
	repositoryWrapped = ""
)

// Keepers opens a tenant's keeper by the name the host gave it (a
// customer-managed KMS key: gocloud.dev/secrets). Nil refuses keepers.
type Keepers func(ctx context.Context, name string) (*secrets.Keeper, error)

// SlotName is the object name of a key's slot.
func SlotName(tag Tag, id KeyID) string { return SlotPrefix + tag.String() + "/" + id.String() }

// WrapSlot returns the slot body of k, wrapped by the keeper named keeper
// (opened through keepers), or by the repository key alone for "".
func WrapSlot(ctx context.Context, k *Key, keeper string, keepers Keepers) ([]byte, error) {
	if len(keeper) > maxKeeperBytes {
		return nil, fmt.Errorf("tenant: keeper name of %d bytes, more than %d", len(keeper), maxKeeperBytes)
	}
	wrapped, err := k.material()
	if err != nil {
		return nil, err
	}
	if keeper != repositoryWrapped {
		kp, err := openKeeper(ctx, keepers, keeper)
		if err != nil {
			return nil, &KeyUnavailableError{Tag: k.Tag, Key: k.ID, Err: err}
		}
		if wrapped, err = kp.Encrypt(ctx, wrapped); err != nil {
			return nil, &KeyUnavailableError{Tag: k.Tag, Key: k.ID, Err: fmt.Errorf("keeper %q: %w", keeper, err)}
		}
	}
	e := binenc.Encoder{}
	e.U8(slotVersion)
	e.Raw(k.Tag[:])
	e.Raw(k.ID[:])
	e.Str(keeper)
	e.Bytes(wrapped)
	return e.B, nil
}

// UnwrapSlot reads the slot body of the key (tag, id), authenticated
// already by the object that holds it, and unwraps the key. A keeper that
// cannot be opened or refuses gives a *KeyUnavailableError.
func UnwrapSlot(ctx context.Context, body []byte, tag Tag, id KeyID, keepers Keepers) (*Key, error) {
	d := binenc.Decoder{B: body}
	if v := d.U8(); d.Err == nil && v != slotVersion {
		return nil, fmt.Errorf("%w: key slot format %d, this build reads %d", ErrDamaged, v, slotVersion)
	}
	var gotTag Tag
	var gotID KeyID
	copy(gotTag[:], d.Take(len(gotTag)))
	copy(gotID[:], d.Take(len(gotID)))
	keeper := d.Str(maxKeeperBytes)
	wrapped := d.Bytes(maxWrappedKey)
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("%w: key slot %s: %v", ErrDamaged, SlotName(tag, id), err)
	}
	if gotTag != tag || gotID != id {
		return nil, fmt.Errorf("%w: key slot %s holds the key of %s/%s", ErrDamaged, SlotName(tag, id), gotTag, gotID)
	}
	data := wrapped
	if keeper != repositoryWrapped {
		kp, err := openKeeper(ctx, keepers, keeper)
		if err != nil {
			return nil, &KeyUnavailableError{Tag: tag, Key: id, Err: err}
		}
		if data, err = kp.Decrypt(ctx, wrapped); err != nil {
			return nil, &KeyUnavailableError{Tag: tag, Key: id, Err: fmt.Errorf("keeper %q cannot unwrap it: %w", keeper, err)}
		}
	}
	return keyFrom(tag, id, data)
}

func openKeeper(ctx context.Context, keepers Keepers, name string) (*secrets.Keeper, error) {
	if keepers == nil {
		return nil, errors.New("the key is wrapped by keeper " + fmt.Sprintf("%q", name) + ", and the node has no Config.TenantKeepers to open it")
	}
	kp, err := keepers(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("keeper %q: %w", name, err)
	}
	if kp == nil {
		return nil, fmt.Errorf("keeper %q: Config.TenantKeepers returned none", name)
	}
	return kp, nil
}
