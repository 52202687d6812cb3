package testkit_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestS3WithoutURL runs the s3 leg of one test in a child process without
// CONTINUITY_TEST_S3_URL: it must skip, except under CONTINUITY_CI=1, where
// it must fail.
func TestS3WithoutURL(t *testing.T) {
	for _, tc := range []struct {
		name, ci string
		fails    bool
		output   string
	}{
		{"local", "", false, "--- SKIP: TestOpenIsolates/s3"},
		{"ci", "1", true, testkit.CIEnv + "=1 but " + testkit.S3URLEnv + " is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestOpenIsolates$/^s3$", "-test.v")
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, testkit.S3URLEnv+"=") && !strings.HasPrefix(kv, testkit.CIEnv+"=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, testkit.CIEnv+"="+tc.ci)
			out, err := cmd.CombinedOutput()
			if tc.fails {
				var exit *exec.ExitError
				require.ErrorAs(t, err, &exit, "output:\n%s", out)
			} else {
				require.NoError(t, err, "output:\n%s", out)
			}
			assert.Contains(t, string(out), tc.output)
		})
	}
}
