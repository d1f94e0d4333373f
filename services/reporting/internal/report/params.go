package report

import (
	"fmt"
	"strconv"
	"time"

	"github.com/b2b/backoffice/internal/apperr"
)

// Limits of the report parameters.
const (
	// MaxRangeDays is the longest range a report covers, both ends included.
	MaxRangeDays = 366
	// DefaultLimit and MaxLimit bound the rows of the top products report.
	DefaultLimit = 10
	MaxLimit     = 100
)

// DateLayout is how report dates are written: UTC calendar days.
const DateLayout = "2006-01-02"

// Range is a run of whole UTC days, both ends included.
type Range struct {
	// From and To are the first and last day, at 00:00 UTC.
	From, To time.Time
}

// End is the first instant after the range.
func (r Range) End() time.Time { return r.To.AddDate(0, 0, 1) }

// NewRange checks the report range from..to: both required, YYYY-MM-DD, to not before from, and at
// most MaxRangeDays days. Every problem is reported, as VALIDATION_FAILED details.
func NewRange(from, to string) (Range, error) {
	var fe []apperr.FieldError
	f, ok := parseDate("from", from, &fe)
	t, ok2 := parseDate("to", to, &fe)
	if ok && ok2 {
		switch days := int(t.Sub(f).Hours()/24) + 1; {
		case t.Before(f):
			fe = append(fe, apperr.FieldError{Field: "to", Message: "must not be before from"})
		case days > MaxRangeDays:
			fe = append(fe, apperr.FieldError{Field: "to", Message: fmt.Sprintf("must be at most %d days after from, both included (got %d days)", MaxRangeDays, days)})
		}
	}
	if len(fe) > 0 {
		return Range{}, apperr.Validation(fe...)
	}
	return Range{From: f, To: t}, nil
}

func parseDate(field, s string, fe *[]apperr.FieldError) (time.Time, bool) {
	if s == "" {
		*fe = append(*fe, apperr.FieldError{Field: field, Message: "is required (YYYY-MM-DD)"})
		return time.Time{}, false
	}
	d, err := time.ParseInLocation(DateLayout, s, time.UTC)
	if err != nil {
		*fe = append(*fe, apperr.FieldError{Field: field, Message: "must be a date as YYYY-MM-DD"})
		return time.Time{}, false
	}
	return d, true
}

// ParseLimit reads the limit of the top products report: "" is DefaultLimit, else 1..MaxLimit.
func ParseLimit(s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, apperr.Validation(apperr.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", MaxLimit)})
	}
	return n, nil
}

// joinValidation merges the details of several VALIDATION_FAILED errors into one, so a client learns
// every problem at once. Other errors are returned as they are.
func joinValidation(errs ...error) error {
	var fe []apperr.FieldError
	for _, err := range errs {
		if err == nil {
			continue
		}
		e := apperr.As(err)
		if e == nil || e.Code != apperr.ErrValidation.Code {
			return err
		}
		for _, d := range e.Details {
			if f, ok := d.(apperr.FieldError); ok {
				fe = append(fe, f)
			}
		}
	}
	if len(fe) > 0 {
		return apperr.Validation(fe...)
	}
	return nil
}
