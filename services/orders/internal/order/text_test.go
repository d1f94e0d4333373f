package order_test

import (
	"testing"

	"github.com/b2b/backoffice/services/orders/internal/order"
)

func TestValidText(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true},
		{"KB-RED", true},
		{"Tastatur ⌨️ 键盘", true},
		{"ZWJ 👩\u200d💻", true},
		{"NUL\x00", false},
		{"tab\t", false},
		{"line\nbreak", false},
		{"\x1b[31m", false},
		{"DEL\x7f", false},
		{"C1\u0085", false},
		{"bad \xff byte", false},
	} {
		if got := order.ValidText(tc.s); got != tc.want {
			t.Errorf("ValidText(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
