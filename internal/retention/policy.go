package retention

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Unlimited is the count that never runs out. A count rule set to Unlimited
// keeps the newest snapshot of every bucket (and Last = Unlimited keeps
// every snapshot).
const Unlimited = -1

// Policy says which snapshots to keep. A snapshot is kept if any rule keeps
// it; every other snapshot is removed. The package documentation gives the
// exact semantics of each rule.
//
// Counts are 0 (rule off), a positive n, or Unlimited (-1). Durations are 0
// (rule off) or positive. The zero Policy has no rule: Empty reports true
// and Apply refuses it with ErrEmptyPolicy.
//
// A Policy is a value; it is safe to use from several goroutines at once as
// long as nobody modifies it (or its Tags) meanwhile.
type Policy struct {
	// Last keeps the Last newest snapshots.
	Last int

	// Hourly keeps the newest snapshot of each of the Hourly most recent
	// clock hours (in Location) that have snapshots.
	Hourly int

	// Daily keeps the newest snapshot of each of the Daily most recent
	// calendar days (in Location) that have snapshots.
	Daily int

	// Weekly keeps the newest snapshot of each of the Weekly most recent
	// ISO 8601 weeks (Monday to Sunday, in Location) that have snapshots.
	Weekly int

	// Monthly keeps the newest snapshot of each of the Monthly most recent
	// calendar months (in Location) that have snapshots.
	Monthly int

	// Yearly keeps the newest snapshot of each of the Yearly most recent
	// calendar years (in Location) that have snapshots.
	Yearly int

	// Within keeps every snapshot taken less than Within before the newest
	// snapshot. It is measured from the newest snapshot, never from the
	// wall clock.
	Within time.Duration

	// WithinHourly keeps the newest snapshot of every clock hour, among the
	// snapshots taken less than WithinHourly before the newest snapshot.
	WithinHourly time.Duration

	// WithinDaily is WithinHourly for calendar days.
	WithinDaily time.Duration

	// WithinWeekly is WithinHourly for ISO 8601 weeks.
	WithinWeekly time.Duration

	// WithinMonthly is WithinHourly for calendar months.
	WithinMonthly time.Duration

	// WithinYearly is WithinHourly for calendar years.
	WithinYearly time.Duration

	// Tags keeps every snapshot that carries at least one of these tags
	// (compared exactly, case-sensitive). Tags are not counted and do not
	// affect the other rules. An empty string is invalid.
	Tags []string

	// Location is the calendar in which hours, days, weeks, months and years
	// are delimited. Nil means UTC.
	Location *time.Location
}

// Empty reports whether p has no rule at all: every count and duration is
// zero and Tags is empty. Location does not count as a rule. Apply refuses
// an empty policy with ErrEmptyPolicy.
func (p Policy) Empty() bool {
	for _, r := range p.countRules() {
		if r.n != 0 {
			return false
		}
	}
	for _, r := range p.durationRules() {
		if r.d != 0 {
			return false
		}
	}
	return len(p.Tags) == 0
}

// Validate reports every problem with p, joined with errors.Join; each
// wraps ErrInvalidPolicy and names the field. It returns nil for a valid
// policy, including the empty one (Apply reports that separately).
func (p Policy) Validate() error {
	var errs []error
	for _, r := range p.countRules() {
		if r.n < Unlimited {
			errs = append(errs, fmt.Errorf("%w: %s is %d; want 0 (off), a positive count or -1 (unlimited)",
				ErrInvalidPolicy, r.field, r.n))
		}
	}
	for _, r := range p.durationRules() {
		if r.d < 0 {
			errs = append(errs, fmt.Errorf("%w: %s is %v; want 0 (off) or a positive duration",
				ErrInvalidPolicy, r.field, r.d))
		}
	}
	for i, tag := range p.Tags {
		if tag == "" {
			// restic reads an empty tag as "untagged snapshots"; we would
			// read it as a tag nobody carries. Neither is obvious, so it is
			// refused.
			errs = append(errs, fmt.Errorf("%w: Tags[%d] is empty", ErrInvalidPolicy, i))
		}
	}
	return errors.Join(errs...)
}

// String summarises p for people, e.g. "keep 7 daily, 4 weekly, 12 monthly".
// Fields are described as they are, valid or not; the empty policy is
// "keep nothing (empty policy)".
func (p Policy) String() string {
	if p.Empty() {
		return "keep nothing (empty policy)"
	}
	var parts []string
	count := func(n int, what string) {
		switch {
		case n == Unlimited:
			parts = append(parts, "all "+what)
		case n != 0:
			parts = append(parts, strconv.Itoa(n)+" "+what)
		}
	}
	switch {
	case p.Last == Unlimited:
		parts = append(parts, "all")
	case p.Last != 0:
		parts = append(parts, strconv.Itoa(p.Last)+" latest")
	}
	count(p.Hourly, "hourly")
	count(p.Daily, "daily")
	count(p.Weekly, "weekly")
	count(p.Monthly, "monthly")
	count(p.Yearly, "yearly")
	if p.Within != 0 {
		parts = append(parts, "everything within "+p.Within.String()+" of the newest")
	}
	durations := p.durationRules()
	for _, r := range durations[1:] {
		if r.d != 0 {
			parts = append(parts, r.name+" within "+r.d.String())
		}
	}
	if len(p.Tags) > 0 {
		parts = append(parts, "tagged "+strings.Join(p.Tags, " or "))
	}
	s := "keep " + strings.Join(parts, ", ")
	if p.Location != nil && p.Location.String() != "UTC" {
		s += " (calendar in " + p.Location.String() + ")"
	}
	return s
}

func (p Policy) location() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

// countField is one count rule of a Policy, for Validate, Empty and Apply.
type countField struct {
	field string // Policy field name, for errors
	n     int
	name  string // calendar unit, for reasons; "" for Last
	key   func(time.Time) bucket
}

// countRules lists the count rules in the order their reasons appear.
func (p Policy) countRules() [6]countField {
	return [6]countField{
		{"Last", p.Last, "", nil},
		{"Hourly", p.Hourly, "hourly", hourOf},
		{"Daily", p.Daily, "daily", dayOf},
		{"Weekly", p.Weekly, "weekly", weekOf},
		{"Monthly", p.Monthly, "monthly", monthOf},
		{"Yearly", p.Yearly, "yearly", yearOf},
	}
}

// durationField is one duration rule of a Policy. The first is Within,
// which has no buckets.
type durationField struct {
	field string
	d     time.Duration
	name  string
	key   func(time.Time) bucket
}

// durationRules lists the duration rules in the order their reasons appear.
func (p Policy) durationRules() [6]durationField {
	return [6]durationField{
		{"Within", p.Within, "", nil},
		{"WithinHourly", p.WithinHourly, "hourly", hourOf},
		{"WithinDaily", p.WithinDaily, "daily", dayOf},
		{"WithinWeekly", p.WithinWeekly, "weekly", weekOf},
		{"WithinMonthly", p.WithinMonthly, "monthly", monthOf},
		{"WithinYearly", p.WithinYearly, "yearly", yearOf},
	}
}

// bucket identifies one calendar period; fields a rule does not use are 0.
// Keys are only ever compared within one rule.
type bucket struct{ year, a, b, c int }

func hourOf(t time.Time) bucket {
	y, m, d := t.Date()
	return bucket{y, int(m), d, t.Hour()}
}

func dayOf(t time.Time) bucket {
	y, m, d := t.Date()
	return bucket{y, int(m), d, 0}
}

func weekOf(t time.Time) bucket {
	y, w := t.ISOWeek()
	return bucket{y, w, 0, 0}
}

func monthOf(t time.Time) bucket {
	y, m, _ := t.Date()
	return bucket{y, int(m), 0, 0}
}

func yearOf(t time.Time) bucket {
	return bucket{t.Year(), 0, 0, 0}
}
