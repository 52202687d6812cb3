package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timeForms lists the time forms --time accepts, for errors and help.
const timeForms = `RFC 3339 ("2026-12-04T21:30:00Z", "2026-12-04T22:30:00+01:00"), ` +
	`local time ("2026-12-04 21:30:00", "2026-12-04 21:30:00.250", "2026-12-04 21:30"), ` +
	`or relative to now ("-5m", "90s ago", "2h ago", "-1d")`

// localLayouts are the forms read in the local time zone, most precise
// first; time.Parse accepts any fraction of a second after the seconds.
var localLayouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
}

// parseTime reads a restore target time in one of timeForms. It reports
// whether the input named no zone (it was read in loc), so that the
// output can say which instant it took.
func parseTime(s string, now time.Time, loc *time.Location) (t time.Time, local bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false, fmt.Errorf("empty time: give %s", timeForms)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, nil
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true, nil
		}
	}
	if d, ok := parseAgo(s); ok {
		return now.Add(-d), false, nil
	}
	return time.Time{}, false, fmt.Errorf("%q is not a time ctl reads: give %s", s, timeForms)
}

// parseAgo reads "-5m", "5m ago", "-1d", "2d12h ago": a duration before
// now (parseDays).
func parseAgo(s string) (time.Duration, bool) {
	switch {
	case strings.HasPrefix(s, "-"):
		return parseDays(s[1:])
	case strings.HasSuffix(s, " ago"):
		return parseDays(strings.TrimSpace(strings.TrimSuffix(s, " ago")))
	}
	return 0, false
}

// parseDays reads a non-negative duration in Go's units plus d for 24
// hours: "90s", "1d", "2d12h".
func parseDays(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, false
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
	}
	if s == "" {
		return days, true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return days + d, true
}
