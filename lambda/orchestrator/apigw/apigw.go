// Package apigw adapts API Gateway REST (v1) proxy events to net/http, so the same http.Handler serves
// AWS Lambda, a local HTTP server and tests. The caller an API Gateway authorizer authenticated travels
// into the request's context as an auth.Principal.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/web"
)

// Option changes a Handler.
type Option func(*options)

type options struct {
	requireAuthorizer bool
}

// RequireAuthorizer makes every event without an authorizer's caller a 401: on AWS the endpoint is
// behind an authorizer, so an event without one means the API was deployed without it, and the
// function fails closed rather than serving anonymous callers.
func RequireAuthorizer() Option { return func(o *options) { o.requireAuthorizer = true } }

// Handler returns a Lambda handler that serves each API Gateway proxy event with h. It never returns a Go
// error: Lambda would turn one into a 502 from API Gateway, so every outcome, a malformed event or a panic
// included, is an HTTP response.
func Handler(h http.Handler, log *slog.Logger, opts ...Option) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (resp events.APIGatewayProxyResponse, _ error) {
		p, found, err := Principal(ev)
		if err != nil || (!found && o.requireAuthorizer) {
			corr := correlationID(ev)
			reason := "no caller from an authorizer"
			if err != nil {
				reason = err.Error()
			}
			log.Warn("authentication failed", "reason", reason, "path", ev.Path, "correlation_id", corr)
			resp := failure(http.StatusUnauthorized, corr, auth.CodeUnauthenticated, "missing or invalid access token")
			// Canonical, as the handler's own headers are.
			challenge := http.CanonicalHeaderKey("WWW-Authenticate")
			resp.Headers[challenge] = auth.ChallengeInvalidToken
			resp.MultiValueHeaders[challenge] = []string{auth.ChallengeInvalidToken}
			return resp, nil
		}
		if found {
			ctx = auth.WithPrincipal(ctx, p)
		}
		r, err := Request(ctx, ev)
		if err != nil {
			corr := correlationID(ev)
			log.Warn("malformed proxy event", "error", err.Error(), "path", ev.Path, "correlation_id", corr)
			return failure(http.StatusBadRequest, corr, "BAD_REQUEST", "malformed request"), nil
		}
		defer func() {
			if p := recover(); p != nil {
				corr := correlationID(ev)
				log.Error("handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()), "correlation_id", corr)
				resp = failure(http.StatusInternalServerError, corr, "INTERNAL", "internal error")
			}
		}()
		w := NewResponseWriter()
		h.ServeHTTP(w, r)
		return w.Response(), nil
	}
}

// Request builds the *http.Request an API Gateway REST proxy event stands for. Multi-value headers and
// query parameters win over their single-value forms (API Gateway sends both); a base64 body is decoded.
func Request(ctx context.Context, ev events.APIGatewayProxyRequest) (*http.Request, error) {
	path := ev.Path
	if path == "" {
		path = ev.RequestContext.Path
	}
	if path == "" {
		path = "/"
	}
	u := &url.URL{Path: path}
	q := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			q[k] = append([]string(nil), vs...)
		}
	} else {
		for k, v := range ev.QueryStringParameters {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()

	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		body = b
	}
	method := ev.HTTPMethod
	if method == "" {
		method = ev.RequestContext.HTTPMethod
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			r.Header.Set(k, v)
		}
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	r.URL.Host = r.Host
	r.RequestURI = u.RequestURI()
	r.RemoteAddr = ev.RequestContext.Identity.SourceIP
	r.ContentLength = int64(len(body))
	return r, nil
}

// Principal returns the caller an API Gateway authorizer authenticated, from the event's
// requestContext.authorizer: a Cognito user pool authorizer puts the token's claims under "claims", a
// Lambda authorizer (cmd/authorizer) the context it returned at the top level. found is false when the
// event carries no caller (no authorizer); an error means the authorizer's caller is unusable (no
// subject, a customer_id that is no id), by the rules of auth.PrincipalFromClaims.
func Principal(ev events.APIGatewayProxyRequest) (p auth.Principal, found bool, err error) {
	claims := ev.RequestContext.Authorizer
	if c, ok := claims["claims"].(map[string]any); ok {
		claims = c
	}
	if _, ok := claims["sub"]; !ok {
		return auth.Principal{}, false, nil
	}
	p, err = auth.PrincipalFromClaims(claims)
	if err != nil {
		return auth.Principal{}, false, fmt.Errorf("authorizer context: %w", err)
	}
	return p, true, nil
}

// ResponseWriter records a response for an API Gateway proxy result.
type ResponseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

// NewResponseWriter returns an empty ResponseWriter.
func NewResponseWriter() *ResponseWriter { return &ResponseWriter{header: http.Header{}} }

// Header returns the response headers.
func (w *ResponseWriter) Header() http.Header { return w.header }

// WriteHeader records the status; like net/http, only the first call counts.
func (w *ResponseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// Write appends to the body, implying 200 when no status was written.
func (w *ResponseWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// Response returns the recorded response. A handler that wrote nothing answers 200 with an empty body.
// Text-like bodies travel as they are; anything else is base64-encoded, as API Gateway expects.
func (w *ResponseWriter) Response() events.APIGatewayProxyResponse {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	resp := events.APIGatewayProxyResponse{
		StatusCode:        status,
		Headers:           map[string]string{},
		MultiValueHeaders: map[string][]string{},
	}
	for k, vs := range w.header {
		if len(vs) == 0 {
			continue
		}
		resp.MultiValueHeaders[k] = append([]string(nil), vs...)
		resp.Headers[k] = strings.Join(vs, ",")
	}
	if w.body.Len() == 0 {
		return resp
	}
	if textual(w.header.Get("Content-Type")) {
		resp.Body = w.body.String()
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(w.body.Bytes())
		resp.IsBase64Encoded = true
	}
	return resp
}

func textual(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || strings.HasSuffix(mt, "+xml") || mt == "application/yaml" ||
		mt == "application/javascript" || mt == "application/x-www-form-urlencoded"
}

// failure is the answer the adapter gives when the handler could not: the same error shape, correlation
// id included, as every other error of the endpoint.
func failure(status int, corr, code, msg string) events.APIGatewayProxyResponse {
	body, _ := json.Marshal(map[string]any{
		"success": false, "correlationId": corr, "error": map[string]string{"code": code, "message": msg},
	})
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json", web.CorrelationHeader: corr},
		MultiValueHeaders: map[string][]string{
			"Content-Type": {"application/json"}, web.CorrelationHeader: {corr},
		},
		Body: string(body),
	}
}

// correlationID is the event's X-Correlation-Id (any spelling of the name) when acceptable, else a new one.
func correlationID(ev events.APIGatewayProxyRequest) string {
	for k, vs := range ev.MultiValueHeaders {
		if strings.EqualFold(k, web.CorrelationHeader) && len(vs) > 0 && web.ValidCorrelationID(vs[0]) {
			return vs[0]
		}
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, web.CorrelationHeader) && web.ValidCorrelationID(v) {
			return v
		}
	}
	return uuid.NewString()
}
