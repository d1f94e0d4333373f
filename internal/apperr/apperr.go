// Package apperr defines the application's error values: a kind that decides the HTTP status in one
// place, a stable UPPER_SNAKE code, a human message and optional details.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error; web.Error maps each kind to exactly one HTTP status.
type Kind int

// The kinds of application errors.
const (
	KindInternal Kind = iota
	KindInvalid
	KindUnauthorized
	KindNotFound
	KindConflict
	KindUnprocessable
	KindTooLarge
	KindUnsupportedMedia
	KindMethodNotAllowed
	KindUnavailable
	KindForbidden
)

// Error is an application error with a stable code. It is safe to show to clients; the cause is not.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Details []any
	cause   error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same code, so sentinels work with errors.Is
// even after WithDetails or Wrap made a copy.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Kind == e.Kind
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(details ...any) *Error {
	c := *e
	c.Details = details
	return &c
}

// WithMessage returns a copy of e with another message.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// Wrap returns a copy of e that records cause (logged, never shown to clients).
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

func newErr(k Kind, code, msg string) *Error { return &Error{Kind: k, Code: code, Message: msg} }

// Invalid is a client error in the request (400).
func Invalid(code, msg string) *Error { return newErr(KindInvalid, code, msg) }

// Unauthorized is a missing or wrong credential (401).
func Unauthorized(code, msg string) *Error { return newErr(KindUnauthorized, code, msg) }

// Forbidden is a caller who is known but may not do this (403).
func Forbidden(code, msg string) *Error { return newErr(KindForbidden, code, msg) }

// NotFound is a missing resource (404).
func NotFound(code, msg string) *Error { return newErr(KindNotFound, code, msg) }

// Conflict is a state conflict (409).
func Conflict(code, msg string) *Error { return newErr(KindConflict, code, msg) }

// Unprocessable is a well-formed request that cannot be processed (422).
func Unprocessable(code, msg string) *Error { return newErr(KindUnprocessable, code, msg) }

// Unavailable is a dependency that cannot be reached (503).
func Unavailable(code, msg string) *Error { return newErr(KindUnavailable, code, msg) }

// FieldError is one entry of a VALIDATION_FAILED error's details.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Common errors shared by every service.
var (
	ErrInternal         = newErr(KindInternal, "INTERNAL", "internal error")
	ErrInvalidJSON      = Invalid("INVALID_JSON", "request body is not valid JSON")
	ErrValidation       = Invalid("VALIDATION_FAILED", "request validation failed")
	ErrInvalidCursor    = Invalid("INVALID_CURSOR", "cursor is invalid")
	ErrTooLarge         = newErr(KindTooLarge, "PAYLOAD_TOO_LARGE", "request body exceeds 1 MiB")
	ErrUnsupportedMedia = newErr(KindUnsupportedMedia, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
	ErrUnauthorized     = Unauthorized("UNAUTHORIZED", "missing or invalid service token")
	ErrRouteNotFound    = NotFound("NOT_FOUND", "route not found")
	ErrMethodNotAllowed = newErr(KindMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed")
)

// Validation builds a VALIDATION_FAILED error from field errors.
func Validation(fields ...FieldError) *Error {
	d := make([]any, len(fields))
	for i, f := range fields {
		d[i] = f
	}
	return ErrValidation.WithDetails(d...)
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
