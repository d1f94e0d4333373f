package customer_test

import (
	"strings"
	"testing"

	"github.com/b2b/backoffice/services/customers/internal/customer"
)

func TestValidEmail(t *testing.T) {
	for _, tc := range []struct {
		email string
		want  bool
	}{
		{"ops@acme.com", true},
		{"first.last+tag@sub.example.co.uk", true},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 184) + ".test", true}, // 254
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".test", false},
		{"", false},
		{"plain", false},
		{"@acme.com", false},
		{"ops@", false},
		{"two@@acme.com", false},
		{"Ops <ops@acme.com>", false},
		{"<ops@acme.com>", false},
		{"ops@acme.com, other@acme.com", false},
		{`"quoted local"@acme.com`, false},
		{"ops @acme.com", false},
		// Internationalized addresses are refused; the domain's xn-- form is ASCII.
		{"jörg@exämple.de", false},
		{"jorg@exämple.de", false},
		{"jörg@example.de", false},
		{"jorg@xn--exmple-cua.de", true},
		{"ops\x00@acme.com", false},
		{"ops\x7f@acme.com", false},
	} {
		if got := customer.ValidEmail(tc.email); got != tc.want {
			t.Errorf("ValidEmail(%q) = %v, want %v", tc.email, got, tc.want)
		}
	}
}

func TestValidPhone(t *testing.T) {
	for _, tc := range []struct {
		phone string
		want  bool
	}{
		{"123", true},
		{"+1-555-0100", true},
		{"+44 (20) 7946.0000", true},
		{strings.Repeat("1", 32), true},
		{strings.Repeat("1", 33), false},
		{"12", false},
		{"", false},
		{"---", false},
		{"+1 555 CALL", false},
		{"555_0100", false},
		{"555/0100", false},
	} {
		if got := customer.ValidPhone(tc.phone); got != tc.want {
			t.Errorf("ValidPhone(%q) = %v, want %v", tc.phone, got, tc.want)
		}
	}
}

func TestPatchEmpty(t *testing.T) {
	s := "x"
	for _, tc := range []struct {
		name string
		p    customer.Patch
		want bool
	}{
		{"nothing", customer.Patch{}, true},
		{"name", customer.Patch{Name: &s}, false},
		{"email", customer.Patch{Email: &s}, false},
		{"phone cleared", customer.Patch{PhoneSet: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Empty(); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestValidText(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true},
		{"ACME Corp", true},
		{"Ünïcødé 株式会社", true},
		{"👩\u200d💻 with a joiner", true},
		{"right\u200fto-left mark", true},
		{"NUL\x00", false},
		{"tab\t", false},
		{"line\nbreak", false},
		{"\x1b[31mred", false},
		{"DEL\x7f", false},
		{"C1\u0085", false},
		{"C1\u009f", false},
		{"bad \xff byte", false},
		{"cut \xc3", false},
	} {
		if got := customer.ValidText(tc.s); got != tc.want {
			t.Errorf("ValidText(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
