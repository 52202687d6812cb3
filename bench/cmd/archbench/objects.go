package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gocloud.dev/blob"
)

// The archive's object names under wal/ (archive/doc.go and format.go):
// the program lists a bucket to count what the archiver wrote and reads
// the WAL objects for the limits, so it tells them apart here. A name
// that is none of these fails the run: the layout changed, and the
// counts would be wrong.
const (
	walPrefix  = "wal/"
	headPrefix = walPrefix + "head/" // wal/head/<seq>: the newest archived record
	pinPrefix  = walPrefix + "pin/"  // wal/pin/<seq>: the first record kept
)

// objKind is what an object under wal/ is.
type objKind int

const (
	kindWAL      objKind = iota // wal/<epoch>/<first>-<last>-<first time>-<last time>: records
	kindTimeline                // wal/<epoch>/timeline
	kindHead                    // wal/head/<seq>
	kindPin                     // wal/pin/<seq>
)

// archObject is one object of a listing of wal/.
type archObject struct {
	key  string
	size int64
	kind objKind
	seq  uint64 // a head's or pin's sequence number
}

// classify says what the object key under wal/ is, and a head's or pin's
// sequence number.
func classify(key string) (objKind, uint64, error) {
	for _, a := range []struct {
		prefix string
		kind   objKind
	}{{headPrefix, kindHead}, {pinPrefix, kindPin}} {
		if s, ok := strings.CutPrefix(key, a.prefix); ok {
			seq, err := parseHex16(s)
			if err != nil {
				return 0, 0, fmt.Errorf("object %s: sequence number: %w", key, err)
			}
			return a.kind, seq, nil
		}
	}
	rest, ok := strings.CutPrefix(key, walPrefix)
	epoch, name, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("object %s: not wal/<epoch>/<name>", key)
	}
	if _, err := parseHex16(epoch); err != nil {
		return 0, 0, fmt.Errorf("object %s: epoch: %w", key, err)
	}
	if name == "timeline" {
		return kindTimeline, 0, nil
	}
	fields := strings.Split(name, "-")
	if len(fields) != 4 {
		return 0, 0, fmt.Errorf("object %s: not <first>-<last>-<first time>-<last time>", key)
	}
	for _, f := range fields {
		if _, err := parseHex16(f); err != nil {
			return 0, 0, fmt.Errorf("object %s: %w", key, err)
		}
	}
	return kindWAL, 0, nil
}

// parseHex16 parses the 16 hex digits of the archive's names.
func parseHex16(s string) (uint64, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("%q is not 16 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not 16 hex digits", s)
	}
	return v, nil
}

// listArchive lists every object under wal/ in bk, in name order.
func listArchive(ctx context.Context, bk *blob.Bucket) ([]archObject, error) {
	var out []archObject
	it := bk.List(&blob.ListOptions{Prefix: walPrefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if o.IsDir {
			continue
		}
		kind, seq, err := classify(o.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, archObject{key: o.Key, size: o.Size, kind: kind, seq: seq})
	}
}
