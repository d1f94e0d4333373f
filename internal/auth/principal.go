package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/b2b/backoffice/internal/identity"
)

// The scopes of the public operations. A token carries the ones it grants in its space-separated
// scope claim.
const (
	ScopeCustomersRead  = "customers:read"
	ScopeCustomersWrite = "customers:write"
	ScopeProductsRead   = "products:read"
	ScopeProductsWrite  = "products:write"
	ScopeOrdersRead     = "orders:read"
	ScopeOrdersWrite    = "orders:write"
	ScopeReportsRead    = "reports:read"
)

// AllScopes returns every scope above, in a stable order: what an operator's dev token grants.
func AllScopes() []string {
	return []string{
		ScopeCustomersRead, ScopeCustomersWrite,
		ScopeProductsRead, ScopeProductsWrite,
		ScopeOrdersRead, ScopeOrdersWrite,
		ScopeReportsRead,
	}
}

// MaxSubjectLen bounds the sub claim: it is stored as the actor of every change and written to logs.
const MaxSubjectLen = 255

// Principal is the verified caller of a request.
type Principal struct {
	// Subject is the token's sub: the actor recorded for every change.
	Subject string
	// CustomerID is the customer a customer's own integration is bound to (the customer_id claim);
	// 0 means a backoffice operator, whose token has no such claim.
	CustomerID int64
	// Scopes are the operations the token grants.
	Scopes []string
}

// Has reports whether p was granted scope.
func (p Principal) Has(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Operator reports whether p is a backoffice operator rather than bound to one customer.
func (p Principal) Operator() bool { return p.CustomerID == 0 }

// Caller returns p as the domain's use cases take it: the subject as the actor, and the customer the
// token is bound to.
func (p Principal) Caller() identity.Caller {
	return identity.Caller{Actor: p.Subject, CustomerID: p.CustomerID}
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p: what Authenticate does for a verified request, and what tests
// and other entry points (a Lambda behind an API Gateway authorizer) do with a principal they trust.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal carried by ctx; ok is false when the request was not authenticated.
func FromContext(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Caller returns the caller of the authenticated request ctx belongs to. Without a principal (a route
// not behind Authenticate) it fails closed with 401 UNAUTHENTICATED rather than running a use case for
// nobody.
func Caller(ctx context.Context) (identity.Caller, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return identity.Caller{}, unauthenticated().Wrap(errors.New("no principal in the request context"))
	}
	return p.Caller(), nil
}

// PrincipalFromClaims builds a principal from verified claims, by the one set of rules every entry
// point applies: sub is required (1..MaxSubjectLen bytes, no control characters); scope, when present,
// is a space-separated string; customer_id, when present, is a positive integer given as a JSON number
// or a numeric string (identity providers that only store string attributes send the latter).
// Claims decoded with json.Number, as float64 or as strings (an API Gateway authorizer's context) work.
func PrincipalFromClaims(claims map[string]any) (Principal, error) {
	var p Principal
	sub, ok := claims["sub"].(string)
	if !ok || sub == "" {
		return Principal{}, errors.New("claim sub: missing or not a string")
	}
	if len(sub) > MaxSubjectLen || strings.ContainsFunc(sub, unicode.IsControl) {
		return Principal{}, fmt.Errorf("claim sub: longer than %d bytes or holds control characters", MaxSubjectLen)
	}
	p.Subject = sub
	if raw, present := claims["scope"]; present {
		s, ok := raw.(string)
		if !ok {
			return Principal{}, fmt.Errorf("claim scope: want a space-separated string, got %T", raw)
		}
		p.Scopes = strings.Fields(s)
	}
	if raw, present := claims["customer_id"]; present {
		id, err := customerID(raw)
		if err != nil {
			return Principal{}, fmt.Errorf("claim customer_id: %w", err)
		}
		p.CustomerID = id
	}
	return p, nil
}

// maxExactFloat is the largest integer a float64 holds exactly (2^53).
const maxExactFloat = 1 << 53

func customerID(raw any) (int64, error) {
	var id int64
	switch v := raw.(type) {
	case json.Number:
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want a positive integer, got %s", v)
		}
		id = n
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want a positive integer, got %q", v)
		}
		id = n
	case float64:
		if v != math.Trunc(v) || v > maxExactFloat || v < -maxExactFloat {
			return 0, fmt.Errorf("want a positive integer, got %v", v)
		}
		id = int64(v)
	default:
		return 0, fmt.Errorf("want a positive integer, got %T", raw)
	}
	if id <= 0 {
		return 0, fmt.Errorf("want a positive integer, got %d", id)
	}
	return id, nil
}
