package failover

import (
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// The modes of what the coordinator writes under Config.Dir: the Raft
// state names the cluster's members and addresses, so it is the owner's
// alone, like the node's WAL beside it.
//
// raft-boltdb creates raft.db 0600 itself. hashicorp/raft's
// FileSnapshotStore takes no mode: it makes its directories 0755 and its
// files with os.Create (0666 before the umask), so openSnapshots tightens
// them after the fact. The window is harmless: the snapshots directory is
// made 0700 before any snapshot is taken, and its parent, Dir, is 0700
// too, so nobody else can reach a file even while it is 0644.
const (
	dirMode  os.FileMode = 0o700
	fileMode os.FileMode = 0o600
)

// snapshotsDir and snapshotTmpSuffix are where FileSnapshotStore keeps
// its snapshots (Dir/snapshots/<id>, built in <id>.tmp): unexported in
// hashicorp/raft, so repeated here. TestFileModes fails if they drift.
const (
	snapshotsDir      = "snapshots"
	snapshotTmpSuffix = ".tmp"
)

// privateSnapshots is a FileSnapshotStore whose new snapshots are made
// private as soon as Create has made them, before any state is written.
type privateSnapshots struct {
	*raft.FileSnapshotStore
	dir string // the store's snapshots directory
}

var _ raft.SnapshotStore = privateSnapshots{}

// openSnapshots opens the file snapshot store under dir (retaining two
// snapshots) with private modes.
func openSnapshots(dir string) (privateSnapshots, error) {
	s, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		return privateSnapshots{}, err
	}
	p := privateSnapshots{FileSnapshotStore: s, dir: filepath.Join(dir, snapshotsDir)}
	if err := os.Chmod(p.dir, dirMode); err != nil {
		return privateSnapshots{}, err
	}
	return p, nil
}

// Create starts a snapshot as FileSnapshotStore does, then restricts its
// directory and the files Create made in it (meta.json, rewritten in
// place on Close, and state.bin) to the owner.
func (s privateSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration, configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	if err := makePrivate(filepath.Join(s.dir, sink.ID()+snapshotTmpSuffix)); err != nil {
		sink.Cancel()
		return nil, err
	}
	return sink, nil
}

// makePrivate sets dir to dirMode and the files directly in it to
// fileMode.
func makePrivate(dir string) error {
	if err := os.Chmod(dir, dirMode); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			if err := os.Chmod(filepath.Join(dir, e.Name()), fileMode); err != nil {
				return err
			}
		}
	}
	return nil
}
