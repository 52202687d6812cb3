package cdc

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		want []string // substrings, one per violation
	}{
		{"default", DefaultParams(), nil},
		{"smallest", Params{Min: 1, Avg: MinAvg, Max: MinAvg + 1}, nil},
		{"largest", Params{Min: MaxMax / 2, Avg: MaxMax / 2, Max: MaxMax}, []string{"Min (536870912) must be less than Avg"}},
		{"zero", Params{}, []string{"Min (0) must be at least 1", "Avg (0)", "Min (0) must be less than Avg (0)", "Max (0) must be greater"}},
		{"avg not power of two", Params{Min: 1000, Avg: 3000, Max: 9000}, []string{"Avg (3000) must be a power of two"}},
		{"avg too small", Params{Min: 1, Avg: 32, Max: 128}, []string{"Avg (32)"}},
		{"min not below avg", Params{Min: 4096, Avg: 4096, Max: 9000}, []string{"Min (4096) must be less than Avg (4096)"}},
		{"max not above avg", Params{Min: 1024, Avg: 4096, Max: 4096}, []string{"Max (4096) must be greater than Avg (4096)"}},
		{"max too large", Params{Min: 1024, Avg: 4096, Max: MaxMax + 1}, []string{"Max (1073741825) must be at most"}},
		{"negative", Params{Min: -1, Avg: -64, Max: -100}, []string{"Min (-1) must be at least 1", "Avg (-64)", "Min (-1) must be less than Avg (-64)", "Max (-100)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if len(tt.want) == 0 {
				require.NoError(t, err)
				_, err := New(tt.p, NewTable([32]byte{}))
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidParams)
			var joined interface{ Unwrap() []error }
			require.True(t, errors.As(err, &joined))
			assert.Len(t, joined.Unwrap(), len(tt.want), "%v", err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
			_, newErr := New(tt.p, NewTable([32]byte{}))
			assert.Equal(t, err.Error(), newErr.Error(), "New reports what Validate does")
		})
	}
}
