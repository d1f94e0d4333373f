package apperr

// kindNames are the stable names of the kinds where an error crosses a process boundary (an order
// request's recorded error): the receiver rebuilds the kind, and with it the status, from the name.
var kindNames = map[Kind]string{
	KindInternal:         "internal",
	KindInvalid:          "invalid",
	KindUnauthorized:     "unauthorized",
	KindNotFound:         "not_found",
	KindConflict:         "conflict",
	KindUnprocessable:    "unprocessable",
	KindTooLarge:         "too_large",
	KindUnsupportedMedia: "unsupported_media",
	KindMethodNotAllowed: "method_not_allowed",
	KindUnavailable:      "unavailable",
	KindForbidden:        "forbidden",
}

// String returns the kind's stable name ("not_found", "conflict", ...).
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "internal"
}

// ParseKind returns the kind named name by String; ok is false for a name it does not know.
func ParseKind(name string) (k Kind, ok bool) {
	for k, n := range kindNames {
		if n == name {
			return k, true
		}
	}
	return KindInternal, false
}
