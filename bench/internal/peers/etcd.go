package peers

import (
	"path/filepath"
	"sync"

	ewal "go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// etcdTerm is the raft term stamped on every entry.
const etcdTerm = 1

// etcdDir is the subdirectory of the directory given to Open that etcd's
// WAL lives in: wal.Create insists on creating its directory itself.
const etcdDir = "wal"

// etcdLog adapts etcd's *ewal.WAL, saving one entry per Save. The
// HardState passed is empty, so Save writes only the entry record (the
// least work etcd's WAL can do per record) and fdatasyncs.
type etcdLog struct {
	mu   sync.Mutex
	log  *ewal.WAL
	next uint64 // index of the next entry
}

var _ Appender = (*etcdLog)(nil)

func createEtcd(dir string) (*ewal.WAL, error) {
	return ewal.Create(zap.NewNop(), filepath.Join(dir, etcdDir), nil)
}

func openEtcd(dir string) (*etcdLog, error) {
	w, err := createEtcd(dir)
	if err != nil {
		return nil, err
	}
	return &etcdLog{log: w, next: 1}, nil
}

func (e *etcdLog) Append(p []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	idx, term := e.next, uint64(etcdTerm)
	ents := []*raftpb.Entry{{Index: &idx, Term: &term, Data: p}}
	if err := e.log.Save(&raftpb.HardState{}, ents); err != nil {
		return err
	}
	e.next++
	return nil
}

func (e *etcdLog) Close() error { return e.log.Close() }

// etcdGroup saves groups of concurrent appends with one Save (one write,
// one fdatasync), as etcd's raft loop saves the entries of one Ready.
type etcdGroup struct {
	*groupCommitter
	log  *ewal.WAL
	next uint64 // owned by the committer goroutine
	ents []*raftpb.Entry
}

var (
	_ Appender     = (*etcdGroup)(nil)
	_ BatchCounter = (*etcdGroup)(nil)
)

func openEtcdGroup(dir string) (*etcdGroup, error) {
	w, err := createEtcd(dir)
	if err != nil {
		return nil, err
	}
	e := &etcdGroup{log: w, next: 1}
	e.groupCommitter = newGroupCommitter(e.write)
	return e, nil
}

func (e *etcdGroup) write(batch [][]byte) (int, error) {
	n := 0
	e.ents = e.ents[:0]
	for i, p := range batch {
		idx, term := e.next+uint64(i), uint64(etcdTerm)
		e.ents = append(e.ents, &raftpb.Entry{Index: &idx, Term: &term, Data: p})
		n += len(p)
	}
	err := e.log.Save(&raftpb.HardState{}, e.ents)
	clear(e.ents)
	if err != nil {
		return 0, err
	}
	e.next += uint64(len(batch))
	return n, nil
}

func (e *etcdGroup) Close() error {
	e.shutdown()
	return e.log.Close()
}
