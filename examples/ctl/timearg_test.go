package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	now := time.Date(2026, 12, 4, 21, 30, 0, 0, time.UTC)
	cases := []struct {
		in    string
		want  time.Time
		local bool
	}{
		{"2026-12-04T21:30:00Z", now, false},
		{"2026-12-04T22:30:00+01:00", now, false},
		{"2026-12-04T21:30:00.250Z", now.Add(250 * time.Millisecond), false},
		{"2026-12-04 22:30:00", now, true},
		{"2026-12-04 22:30:00.250", now.Add(250 * time.Millisecond), true},
		{"2026-12-04T22:30:01", now.Add(time.Second), true},
		{"2026-12-04 22:30", now, true},
		{"-5m", now.Add(-5 * time.Minute), false},
		{"90s ago", now.Add(-90 * time.Second), false},
		{"2h ago", now.Add(-2 * time.Hour), false},
		{"-1d", now.Add(-24 * time.Hour), false},
		{"1d12h ago", now.Add(-36 * time.Hour), false},
	}
	for _, c := range cases {
		got, local, err := parseTime(c.in, now, loc)
		if err != nil || !got.Equal(c.want) || local != c.local {
			t.Errorf("parseTime(%q) = %v, local %v, %v; want %v, local %v", c.in, got, local, err, c.want, c.local)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01 00:00:00", "5m", "-", "ago", "-x", "-1d-2h", "12/04/2026"} {
		_, _, err := parseTime(bad, now, loc)
		if err == nil || !strings.Contains(err.Error(), "RFC 3339") {
			t.Errorf("parseTime(%q): %v; want an error naming the forms", bad, err)
		}
	}
}
