package retention

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		for _, p := range []Policy{
			{},
			{Last: Unlimited, Hourly: Unlimited, Daily: Unlimited, Weekly: Unlimited, Monthly: Unlimited, Yearly: Unlimited},
			{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 10, Location: time.Local},
			{Within: time.Nanosecond, WithinHourly: time.Hour, WithinDaily: 1, WithinWeekly: 1, WithinMonthly: 1, WithinYearly: 1},
			{Tags: []string{"prod", "prod"}},
		} {
			assert.NoError(t, p.Validate(), "%+v", p)
		}
	})

	t.Run("every problem, each naming its field", func(t *testing.T) {
		p := Policy{
			Last: -2, Hourly: -3, Daily: -4, Weekly: -5, Monthly: -6, Yearly: -7,
			Within: -1, WithinHourly: -time.Hour, WithinDaily: -2, WithinWeekly: -3, WithinMonthly: -4, WithinYearly: -5,
			Tags: []string{"ok", ""},
		}
		err := p.Validate()
		require.ErrorIs(t, err, ErrInvalidPolicy)
		var joined interface{ Unwrap() []error }
		require.True(t, errors.As(err, &joined))
		errs := joined.Unwrap()
		require.Len(t, errs, 13)
		for i, field := range []string{
			"Last is -2", "Hourly is -3", "Daily is -4", "Weekly is -5", "Monthly is -6", "Yearly is -7",
			"Within is -1ns", "WithinHourly is -1h0m0s", "WithinDaily is -2ns", "WithinWeekly is -3ns",
			"WithinMonthly is -4ns", "WithinYearly is -5ns", "Tags[1] is empty",
		} {
			assert.ErrorIs(t, errs[i], ErrInvalidPolicy)
			assert.Contains(t, errs[i].Error(), field)
		}
	})
}

func TestEmpty(t *testing.T) {
	assert.True(t, Policy{}.Empty())
	assert.True(t, Policy{Location: time.Local, Tags: []string{}}.Empty())
	for _, p := range []Policy{
		{Last: 1}, {Hourly: Unlimited}, {Daily: 1}, {Weekly: 1}, {Monthly: 1}, {Yearly: 1},
		{Within: 1}, {WithinHourly: 1}, {WithinDaily: 1}, {WithinWeekly: 1}, {WithinMonthly: 1}, {WithinYearly: 1},
		{Tags: []string{"prod"}},
		{Daily: -5}, // invalid, but not empty
	} {
		assert.False(t, p.Empty(), "%+v", p)
	}
}

func TestString(t *testing.T) {
	newYork := mustLoad(t, "America/New_York")
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{}, "keep nothing (empty policy)"},
		{Policy{Location: newYork}, "keep nothing (empty policy)"},
		{Policy{Daily: 7, Weekly: 4, Monthly: 12}, "keep 7 daily, 4 weekly, 12 monthly"},
		{Policy{Last: 3, Hourly: 24, Yearly: Unlimited}, "keep 3 latest, 24 hourly, all yearly"},
		{Policy{Last: Unlimited}, "keep all"},
		{Policy{Within: 720 * time.Hour}, "keep everything within 720h0m0s of the newest"},
		{
			Policy{WithinDaily: 168 * time.Hour, WithinYearly: 87600 * time.Hour, Tags: []string{"prod", "release"}},
			"keep daily within 168h0m0s, yearly within 87600h0m0s, tagged prod or release",
		},
		{Policy{Daily: 7, Location: newYork}, "keep 7 daily (calendar in America/New_York)"},
		{Policy{Daily: 7, Location: time.UTC}, "keep 7 daily"},
		{Policy{Daily: -4}, "keep -4 daily"},
	} {
		assert.Equal(t, tc.want, tc.p.String())
	}
}
