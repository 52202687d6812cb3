package localblob

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocloud.dev/blob/driver"
	"gocloud.dev/blob/drivertest"

	"github.com/continuity-go/continuity/internal/vfs"
)

// unsupported names the conformance tests that exercise what this driver
// deliberately does not do, with the reason. A name matches a test and
// its subtests.
var unsupported = []struct{ test, why string }{
	{"TestAttributes", "CacheControl, ContentDisposition, ContentEncoding and ContentLanguage are not stored: NewWriter refuses them"},
	{"TestWrite/write_with_explicit_ContentType_overrides_discovery", "content types are sniffed from the bytes, not stored"},
	{"TestMetadata/valid_metadata", "metadata is not stored: NewWriter refuses it"},
	{"TestMetadata/valid_metadata_with_empty_body", "metadata is not stored: NewWriter refuses it"},
	{"TestMetadata/valid_metadata_with_content_type", "metadata is not stored: NewWriter refuses it"},
	{"TestMetadata/weird_metadata_keys", "metadata is not stored: NewWriter refuses it"},
	{"TestCopy/Works", "it writes with metadata, which is not stored: NewWriter refuses it"},
	{"TestCopy/DoesNotAliasAttributes", "it writes with metadata, which is not stored: NewWriter refuses it"},
}

// harness runs the suite on one directory of an FS.
type harness struct {
	t   *testing.T
	fs  vfs.FS
	dir string
	os  bool
}

func (h *harness) MakeDriver(context.Context) (driver.Bucket, error) {
	return openBucket(h.dir, &Options{fs: h.fs})
}

// MakeDriverForNonexistentBucket opens a bucket and then removes its
// directory (on the OS only: MemFS cannot remove a tree).
func (h *harness) MakeDriverForNonexistentBucket(context.Context) (driver.Bucket, error) {
	if !h.os {
		return nil, nil
	}
	dir := filepath.Join(h.t.TempDir(), "gone")
	b, err := openBucket(dir, &Options{fs: h.fs})
	if err != nil {
		return nil, err
	}
	return b, os.RemoveAll(dir)
}

func (h *harness) HTTPClient() *http.Client         { return nil }
func (h *harness) SupportsCopy() bool               { return true }
func (h *harness) SupportsNonSlashDelimiters() bool { return true }
func (h *harness) Close()                           {}

// TestConformance runs gocloud.dev's driver conformance suite on the
// operating system's file system and on MemFS.
func TestConformance(t *testing.T) {
	for _, backend := range []struct {
		name string
		new  func(t *testing.T) *harness
	}{
		{"os", func(t *testing.T) *harness {
			return &harness{t: t, fs: vfs.Default(), dir: t.TempDir(), os: true}
		}},
		{"mem", func(t *testing.T) *harness {
			return &harness{t: t, fs: vfs.NewMem(), dir: "/bucket"}
		}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			suite := t.Name() + "/"
			drivertest.RunConformanceTests(t, func(_ context.Context, t *testing.T) (drivertest.Harness, error) {
				name := strings.TrimPrefix(t.Name(), suite)
				for _, u := range unsupported {
					if name == u.test || strings.HasPrefix(name, u.test+"/") {
						t.Skip("not supported: " + u.why)
					}
				}
				return backend.new(t), nil
			}, nil)
		})
	}
}
