package testkit

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fatalT records the first Fatalf and ends the goroutine, as testing.T
// does. Any other method of testing.TB panics (the embedded TB is nil).
type fatalT struct {
	testing.TB
	fatal string
}

func (f *fatalT) Helper() {}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventually(t *testing.T) {
	for _, tc := range []struct {
		name      string
		trueFrom  int // the call of cond that first returns true; 0: never
		wantCalls int // 0: more than one, and Eventually fails
	}{
		{name: "true at once", trueFrom: 1, wantCalls: 1},
		{name: "true after polls", trueFrom: 4, wantCalls: 4},
		{name: "never true", trueFrom: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fatalT{}
			calls := 0
			cond := func() bool {
				calls++
				return tc.trueFrom != 0 && calls >= tc.trueFrom
			}
			returned := make(chan bool)
			go func() {
				ok := false
				defer func() { returned <- ok }()
				eventually(ft, 50*time.Millisecond, time.Millisecond, cond, "the %s", "thing")
				ok = true
			}()
			ok := <-returned
			if tc.wantCalls > 0 {
				require.True(t, ok, "Eventually failed: %s", ft.fatal)
				assert.Equal(t, tc.wantCalls, calls)
				assert.Empty(t, ft.fatal)
				return
			}
			require.False(t, ok, "Eventually returned although cond never held")
			assert.Equal(t, "timed out after 50ms waiting for the thing", ft.fatal)
			assert.Greater(t, calls, 1, "cond is polled, not called once")
		})
	}
}
