package images

import (
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d.Time
}

func TestStatusOn(t *testing.T) {
	c := mustLoad(t)
	cases := []struct {
		id, day string
		want    Status
	}{
		{"nodejs10.x", "2021-07-29", Supported},
		{"nodejs10.x", "2021-07-30", DeprecatedPhase1},
		{"nodejs10.x", "2022-02-13", DeprecatedPhase1},
		{"nodejs10.x", "2022-02-14", DeprecatedPhase2},
		{"python2.7", "2021-07-14", Supported},
		{"python2.7", "2021-07-15", DeprecatedPhase1},
		{"python2.7", "2022-05-30", DeprecatedPhase2},
		{"python3.6", "2022-08-28", DeprecatedPhase1},
		{"python3.6", "2022-08-29", DeprecatedPhase2},
		{"nodejs12.x", "2023-03-30", Supported},
		{"nodejs12.x", "2030-01-01", DeprecatedPhase1}, // no phase 2 date
		{"dotnetcore3.1", "2023-03-31", DeprecatedPhase1},
		{"python3.9", "2099-01-01", Supported}, // nothing scheduled
	}
	for _, tc := range cases {
		r, _ := c.Runtime(tc.id)
		if got := r.StatusOn(day(tc.day)); got != tc.want {
			t.Errorf("%s on %s: %s, want %s", tc.id, tc.day, got, tc.want)
		}
	}
}

func TestStatusOnUsesTheCalendarDay(t *testing.T) {
	c := mustLoad(t)
	r, _ := c.Runtime("nodejs10.x")
	// Late on the day before phase 1, in a zone west of UTC (already the 30th in UTC).
	la := time.FixedZone("UTC-8", -8*3600)
	if got := r.StatusOn(time.Date(2021, 7, 29, 23, 0, 0, 0, la)); got != Supported {
		t.Errorf("29 July 23:00 UTC-8: %s, want supported", got)
	}
	if got := r.StatusOn(time.Date(2021, 7, 30, 0, 30, 0, 0, la)); got != DeprecatedPhase1 {
		t.Errorf("30 July 00:30 UTC-8: %s, want phase 1", got)
	}
}

func TestCheckDeprecated(t *testing.T) {
	c := mustLoad(t)
	r, _ := c.Runtime("python2.7")
	err := r.CheckDeprecated(day("2026-01-01"))
	if err == nil || !strings.Contains(err.Error(), "phase 1 since 2021-07-15, phase 2 since 2022-05-30") || !strings.Contains(err.Error(), "--allow-deprecated") {
		t.Errorf("python2.7: %v", err)
	}
	r, _ = c.Runtime("nodejs12.x")
	if err := r.CheckDeprecated(day("2023-04-01")); err == nil || !strings.Contains(err.Error(), "phase 1 since 2023-03-31)") {
		t.Errorf("nodejs12.x: %v", err)
	}
	r, _ = c.Runtime("java11")
	if err := r.CheckDeprecated(day("2026-01-01")); err != nil {
		t.Errorf("java11: %v", err)
	}
}
