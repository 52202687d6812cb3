package archive

import (
	"sync"
	"weak"

	"github.com/continuity-go/continuity/snapshot"
)

// The window's first and last instants come from objects read and
// authenticated, not from their names (which anyone who can write to the
// bucket can plant). Objects are written once and a name fixes its LSN
// range and times, so once an object has authenticated, the times its
// name states are known true: verified remembers which names did, per
// repository, so that a window computed every few seconds (Node.Status)
// does not download the same, possibly compacted and large, objects
// again. Only *snapshot.Repo stores are remembered, through a weak
// pointer: a closed repository is not kept alive, and a new one at its
// address is another key. With each name it keeps the chain values its
// prefix sealed, so that links between objects can be checked without
// reading them again.

// maxVerified bounds the names remembered; past it the set starts over.
const maxVerified = 4096

type verifiedKey struct {
	repo weak.Pointer[snapshot.Repo]
	name string
}

// segChain is an authenticated object's chain before and after it.
type segChain struct{ prev, end chainHash }

var verified struct {
	sync.Mutex
	names map[verifiedKey]segChain
}

// isVerified returns the chain of the object name of store if it
// authenticated before.
func isVerified(store Store, name string) (segChain, bool) {
	r, ok := store.(*snapshot.Repo)
	if !ok {
		return segChain{}, false
	}
	verified.Lock()
	defer verified.Unlock()
	c, ok := verified.names[verifiedKey{weak.Make(r), name}]
	return c, ok
}

// markVerified remembers that the object name of store authenticated,
// with its chain.
func markVerified(store Store, name string, prev, end chainHash) {
	r, ok := store.(*snapshot.Repo)
	if !ok {
		return
	}
	verified.Lock()
	defer verified.Unlock()
	if verified.names == nil || len(verified.names) >= maxVerified {
		verified.names = make(map[verifiedKey]segChain)
	}
	verified.names[verifiedKey{weak.Make(r), name}] = segChain{prev, end}
}
