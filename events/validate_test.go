package events

import (
	"reflect"
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"a": true, "order-2026/11#1~": true, "...": true, ".a": true, "a..": true,
		"": false, "with space": false, "é": false, "tab\t": false, "\x7f": false,
		// Dot segments: joined into a URL path they are cleaned away and address another resource.
		".": false, "..": false,
		strings.Repeat("k", MaxKeyLen): true, strings.Repeat("k", MaxKeyLen+1): false,
	} {
		if got := ValidKey(key); got != want {
			t.Errorf("ValidKey(%q): got %v, want %v", key, got, want)
		}
	}
}

func TestValidateItems(t *testing.T) {
	many := make([]LineItem, MaxItems+1)
	for i := range many {
		many[i] = LineItem{ProductID: int64(i + 1), Qty: 1}
	}
	full := make([]LineItem, MaxItems)
	for i := range full {
		full[i] = LineItem{ProductID: 1, Qty: 100}
	}
	tests := []struct {
		name     string
		items    []LineItem
		want     []LineItem
		problems []FieldProblem
	}{
		{"merged and sorted", []LineItem{{3, 1}, {1, 2}, {3, 4}}, []LineItem{{1, 2}, {3, 5}}, nil},
		{"merged total at the limit", []LineItem{{1, 6000}, {1, 4000}}, []LineItem{{1, 10000}}, nil},
		{"100 lines of one product", full, []LineItem{{1, 10000}}, nil},
		{"empty", nil, nil, []FieldProblem{{"items", "must hold at least one item"}}},
		{"101 lines", many, nil, []FieldProblem{{"items", "must hold at most 100 items"}}},
		{"bad line", []LineItem{{0, 0}, {2, 10001}, {3, 1}}, nil, []FieldProblem{
			{"items[0].product_id", "must be a positive integer"},
			{"items[0].qty", "must be from 1 to 10000"},
			{"items[1].qty", "must be from 1 to 10000"},
		}},
		{"merged total over the limit", []LineItem{{1, 6000}, {2, 1}, {1, 6000}}, nil,
			[]FieldProblem{{"items", "product 1: total qty must be at most 10000"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := ValidateItems(tc.items)
			if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(problems, tc.problems) {
				t.Errorf("got %v %v, want %v %v", got, problems, tc.want, tc.problems)
			}
		})
	}
}
