package continuity

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/continuity-go/continuity"

// layer is a package's rank in the dependency order: a package may import
// only packages of lower rank (internal packages rank with the layer that
// owns them). The order: wal, snapshot, peer and localblob; archive and
// tenant and audit;
// replication and failover (beside each other); the root; observe; the
// examples.
func layer(path string) int {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	switch {
	case rel == "internal/wire":
		return 3 // replication's protocol
	case rel == "internal/testkit" || rel == "internal/testsm":
		return 2 // test helpers: certificates (peer) and state machines (wal)
	case strings.HasPrefix(rel, "internal/"):
		return 0
	case rel == "wal", rel == "snapshot", rel == "peer", rel == "localblob":
		return 1
	case rel == "archive", rel == "tenant", rel == "audit":
		return 2
	case rel == "replication", rel == "failover":
		return 4
	case rel == "":
		return 5
	case rel == "observe":
		return 6
	case strings.HasPrefix(rel, "examples/"):
		return 7
	}
	return -1
}

// TestImportsFlowOneWay checks that no library package imports (in its
// non-test files) one at or above its own layer, and that failover needs
// neither archive nor replication.
func TestImportsFlowOneWay(t *testing.T) {
	imports := map[string][]string{} // package → packages of this module it imports
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); dir != "." && (name == "testdata" || name == "bench" || strings.HasPrefix(name, ".")) {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(dir, 0)
		if _, ok := err.(*build.NoGoError); ok {
			return nil
		}
		require.NoError(t, err, dir)
		path := module
		if dir != "." {
			path += "/" + filepath.ToSlash(dir)
		}
		for _, imp := range p.Imports {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				imports[path] = append(imports[path], imp)
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, imports[module+"/replication"], "the walk found the packages")
	for pkg, deps := range imports {
		require.GreaterOrEqual(t, layer(pkg), 0, "%s has no layer: add it to layer()", pkg)
		for _, dep := range deps {
			same := layer(dep) == layer(pkg) && strings.HasPrefix(strings.TrimPrefix(dep, module+"/"), "internal/")
			assert.True(t, layer(dep) < layer(pkg) || same, "%s (layer %d) imports %s (layer %d)", pkg, layer(pkg), dep, layer(dep))
		}
	}
	for _, dep := range imports[module+"/failover"] {
		assert.NotContains(t, []string{module + "/archive", module + "/replication"}, dep, "failover needs neither archive nor replication")
	}
}
