package apperr

import "testing"

func TestKindNames(t *testing.T) {
	want := map[Kind]string{
		KindInternal: "internal", KindInvalid: "invalid", KindUnauthorized: "unauthorized", KindNotFound: "not_found",
		KindConflict: "conflict", KindUnprocessable: "unprocessable", KindTooLarge: "too_large",
		KindUnsupportedMedia: "unsupported_media", KindMethodNotAllowed: "method_not_allowed", KindUnavailable: "unavailable",
	}
	for k := KindInternal; k <= KindUnavailable; k++ {
		if k.String() != want[k] {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), want[k])
		}
		if got, ok := ParseKind(k.String()); !ok || got != k {
			t.Errorf("ParseKind(%q) = %d, %v, want %d, true", k.String(), got, ok, k)
		}
	}
	for _, name := range []string{"", "NotFound", "not found", "teapot"} {
		if k, ok := ParseKind(name); ok || k != KindInternal {
			t.Errorf("ParseKind(%q) = %d, %v, want internal, false", name, k, ok)
		}
	}
	if Kind(99).String() != "internal" {
		t.Errorf("an unknown kind must name itself internal, got %q", Kind(99).String())
	}
}
