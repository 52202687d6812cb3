package localblob

import (
	"bytes"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"pgregory.net/rapid"

	"github.com/continuity-go/continuity/internal/vfs"
)

// modelKeys are the keys the model test draws from: plain ones, ones that
// are each other's directories ("a" and "a/b"), and ones that need
// escaping ("x/" is a file beside the directory "x").
var modelKeys = []string{
	"a", "b", "a-b", "a/b", "a/c", "a/b/c", "b/a", "x/", "x//y", "x/y", "x/.", "x/..",
	"_0x", "__0x41__", "d.attrs", "e\x01", "ä/ö", "snap/0001", "snap/0002", "snap/0010",
}

// TestModel runs random sequences of writes (plain and IfNotExist),
// deletes, listings (prefix, delimiter, page size), range reads,
// attribute reads, reopening and power losses against a model: a map
// from key to bytes, plus the directories that writes made (never
// removed), which is what makes "a" and "a/b" exclusive. After a power
// loss the model is unchanged, as every operation that returned is
// durable.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := t.Context()
		const dir = "/bucket"
		m := vfs.NewMem()
		open := func() *blob.Bucket {
			d, err := openBucket(dir, &Options{fs: m})
			require.NoError(t, err)
			return blob.NewBucket(d)
		}
		b := open()
		defer func() { b.Close() }()
		objects := map[string][]byte{}
		dirs := map[string]bool{} // relative paths of the directories writes made

		// conflict reports whether key cannot be written: its path runs
		// through an object, or is a directory.
		conflict := func(key string) bool {
			p, err := keyPath(key)
			require.NoError(t, err)
			if dirs[p] {
				return true
			}
			for k := range objects {
				kp, _ := keyPath(k)
				if strings.HasPrefix(p, kp+"/") {
					return true
				}
			}
			return false
		}
		wrote := func(key string) {
			p, _ := keyPath(key)
			for d := parentRel(p); d != ""; d = parentRel(d) {
				dirs[d] = true
			}
		}
		key := func(t *rapid.T) string { return rapid.SampledFrom(modelKeys).Draw(t, "key") }

		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k := key(t)
				data := rapid.SliceOfN(rapid.Byte(), 0, 700).Draw(t, "data")
				ifNotExist := rapid.Bool().Draw(t, "ifNotExist")
				err := b.WriteAll(ctx, k, data, &blob.WriterOptions{IfNotExist: ifNotExist})
				_, exists := objects[k]
				switch {
				case conflict(k):
					require.ErrorIs(t, err, ErrKeyConflict)
					require.Equal(t, gcerrors.Unknown, gcerrors.Code(err))
				case ifNotExist && exists:
					require.ErrorIs(t, err, ErrExists)
					require.Equal(t, gcerrors.FailedPrecondition, gcerrors.Code(err))
				default:
					require.NoError(t, err)
					objects[k] = data
					wrote(k)
				}
			},
			"delete": func(t *rapid.T) {
				k := key(t)
				err := b.Delete(ctx, k)
				if _, ok := objects[k]; ok {
					require.NoError(t, err)
					delete(objects, k)
				} else {
					require.Equal(t, gcerrors.NotFound, gcerrors.Code(err), "delete %q: %v", k, err)
				}
			},
			"list": func(t *rapid.T) {
				prefix := rapid.SampledFrom([]string{"", "a", "a/", "x", "x/", "_", "snap/", "snap/000", "q"}).Draw(t, "prefix")
				delim := rapid.SampledFrom([]string{"", "/", "-", "b", "//"}).Draw(t, "delim")
				pageSize := rapid.IntRange(1, 5).Draw(t, "pageSize")
				var want []string
				for _, k := range slices.Sorted(maps.Keys(objects)) {
					if !strings.HasPrefix(k, prefix) {
						continue
					}
					if i := strings.Index(k[len(prefix):], delim); delim != "" && i >= 0 {
						k = k[:len(prefix)+i+len(delim)]
					}
					if len(want) == 0 || want[len(want)-1] != k {
						want = append(want, k)
					}
				}
				var got []string
				opts := &blob.ListOptions{Prefix: prefix, Delimiter: delim}
				token := blob.FirstPageToken
				for pages := 0; ; pages++ {
					require.LessOrEqual(t, pages, len(want), "ListPage does not end")
					objs, next, err := b.ListPage(ctx, token, pageSize, opts)
					require.NoError(t, err)
					require.LessOrEqual(t, len(objs), pageSize)
					for _, o := range objs {
						got = append(got, o.Key)
						if data, ok := objects[o.Key]; ok && !o.IsDir {
							require.Equal(t, int64(len(data)), o.Size, "size of %q", o.Key)
						} else {
							require.True(t, o.IsDir, "%q listed as an object", o.Key)
						}
					}
					if next == nil {
						break
					}
					require.Len(t, objs, pageSize, "a page before the last is full")
					token = next
				}
				require.Equal(t, want, got, "prefix %q delimiter %q page size %d", prefix, delim, pageSize)
			},
			"read range": func(t *rapid.T) {
				k := key(t)
				off := rapid.Int64Range(0, 800).Draw(t, "offset")
				n := rapid.Int64Range(-1, 800).Draw(t, "length")
				r, err := b.NewRangeReader(ctx, k, off, n, nil)
				data, ok := objects[k]
				if !ok {
					require.Equal(t, gcerrors.NotFound, gcerrors.Code(err), "read %q: %v", k, err)
					return
				}
				require.NoError(t, err)
				got, err := io.ReadAll(r)
				require.NoError(t, err)
				require.NoError(t, r.Close())
				want := data[min(off, int64(len(data))):]
				if n >= 0 {
					want = want[:min(n, int64(len(want)))]
				}
				require.True(t, bytes.Equal(want, got), "read %q at %d, %d bytes", k, off, n)
				require.Equal(t, int64(len(data)), r.Size())
			},
			"attributes": func(t *rapid.T) {
				k := key(t)
				a, err := b.Attributes(ctx, k)
				data, ok := objects[k]
				if !ok {
					require.Equal(t, gcerrors.NotFound, gcerrors.Code(err), "attributes %q: %v", k, err)
					return
				}
				require.NoError(t, err)
				require.Equal(t, int64(len(data)), a.Size)
				require.False(t, a.ModTime.IsZero())
				require.NotEmpty(t, a.ContentType)
			},
			"reopen": func(t *rapid.T) {
				require.NoError(t, b.Close())
				b = open()
			},
			"power loss": func(t *rapid.T) {
				require.NoError(t, b.Close())
				m = m.CrashClone()
				b = open()
				names, err := m.List(path.Join(dir, tmpDirName))
				require.NoError(t, err)
				require.Len(t, names, 1, "only the new bucket's lock: %q", names)
			},
			"": func(t *rapid.T) {
				for k, data := range objects {
					got, err := b.ReadAll(ctx, k)
					require.NoError(t, err, "read %q", k)
					require.True(t, bytes.Equal(data, got), "%q", k)
				}
			},
		})
	})
}

func TestModelKeysAreEscaped(t *testing.T) {
	// The model relies on some keys needing escapes; check that they do.
	escaped := 0
	for _, k := range modelKeys {
		p, err := keyPath(k)
		require.NoError(t, err)
		if p != k {
			escaped++
		}
	}
	require.GreaterOrEqual(t, escaped, 5)
}
