package apigw_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/lambda/orchestrator/apigw"
)

// echo answers with what it received, so each test can see how the event became a request.
type echoed struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   map[string][]string `json:"query"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
	Length  int64               `json:"length"`
	Remote  string              `json:"remote"`
	Host    string              `json:"host"`
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("X-Multi", "a")
	w.Header().Add("X-Multi", "b")
	w.WriteHeader(http.StatusTeapot)
	_ = json.NewEncoder(w).Encode(echoed{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Headers: r.Header,
		Body: string(b), Length: r.ContentLength, Remote: r.RemoteAddr, Host: r.Host,
	})
}

func invoke(t *testing.T, h http.Handler, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	resp, err := apigw.Handler(h, slog.New(slog.DiscardHandler))(context.Background(), ev)
	if err != nil {
		t.Fatalf("handler returned a Go error: %v", err)
	}
	return resp
}

func decodeEcho(t *testing.T, resp events.APIGatewayProxyResponse) echoed {
	t.Helper()
	if resp.IsBase64Encoded {
		t.Fatalf("JSON body was base64-encoded")
	}
	var e echoed
	if err := json.Unmarshal([]byte(resp.Body), &e); err != nil {
		t.Fatalf("decode echo %q: %v", resp.Body, err)
	}
	return e
}

func TestRequestTranslation(t *testing.T) {
	ev := events.APIGatewayProxyRequest{
		HTTPMethod: "POST",
		Path:       "/dev/orchestrator/create-and-confirm-order",
		Headers:    map[string]string{"Content-Type": "application/json", "X-Single": "ignored when multi-value present"},
		MultiValueHeaders: map[string][]string{
			"Content-Type": {"application/json"},
			"Accept":       {"application/json", "text/plain"},
			"Host":         {"abc.execute-api.eu-west-1.amazonaws.com"},
		},
		QueryStringParameters:           map[string]string{"tag": "b"},
		MultiValueQueryStringParameters: map[string][]string{"tag": {"a", "b"}, "q": {"x y&z"}},
		Body:                            `{"customer_id":1}`,
		RequestContext:                  events.APIGatewayProxyRequestContext{Stage: "dev", Identity: events.APIGatewayRequestIdentity{SourceIP: "203.0.113.9"}},
	}
	resp := invoke(t, http.HandlerFunc(echo), ev)
	if resp.StatusCode != http.StatusTeapot {
		t.Fatalf("status: got %d, want %d", resp.StatusCode, http.StatusTeapot)
	}
	e := decodeEcho(t, resp)
	want := echoed{
		Method: "POST",
		Path:   "/dev/orchestrator/create-and-confirm-order",
		Query:  map[string][]string{"tag": {"a", "b"}, "q": {"x y&z"}},
		Headers: map[string][]string{
			"Content-Type": {"application/json"},
			"Accept":       {"application/json", "text/plain"},
			"Host":         {"abc.execute-api.eu-west-1.amazonaws.com"},
		},
		Body:   `{"customer_id":1}`,
		Length: int64(len(`{"customer_id":1}`)),
		Remote: "203.0.113.9",
		Host:   "abc.execute-api.eu-west-1.amazonaws.com",
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("request:\ngot  %+v\nwant %+v", e, want)
	}
	if got := resp.MultiValueHeaders["X-Multi"]; !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("multi-value response header: got %q, want [a b]", got)
	}
	if got := resp.Headers["Content-Type"]; got != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", got)
	}
}

func TestSingleValueFallback(t *testing.T) {
	ev := events.APIGatewayProxyRequest{
		HTTPMethod:            "GET",
		Path:                  "/health",
		Headers:               map[string]string{"X-Correlation-Id": "abc-1"},
		QueryStringParameters: map[string]string{"limit": "5"},
	}
	e := decodeEcho(t, invoke(t, http.HandlerFunc(echo), ev))
	if e.Method != "GET" || e.Path != "/health" {
		t.Errorf("method/path: got %s %s, want GET /health", e.Method, e.Path)
	}
	if got := e.Headers["X-Correlation-Id"]; !reflect.DeepEqual(got, []string{"abc-1"}) {
		t.Errorf("header: got %q, want [abc-1]", got)
	}
	if got := e.Query["limit"]; !reflect.DeepEqual(got, []string{"5"}) {
		t.Errorf("query: got %q, want [5]", got)
	}
	if e.Body != "" || e.Length != 0 {
		t.Errorf("body: got %q (length %d), want empty", e.Body, e.Length)
	}
}

func TestBase64Bodies(t *testing.T) {
	raw := []byte{0x00, 0xff, 0x10, 'h', 'i'}
	t.Run("request body is decoded", func(t *testing.T) {
		ev := events.APIGatewayProxyRequest{
			HTTPMethod:      "POST",
			Path:            "/x",
			Body:            base64.StdEncoding.EncodeToString([]byte(`{"a":"é"}`)),
			IsBase64Encoded: true,
		}
		e := decodeEcho(t, invoke(t, http.HandlerFunc(echo), ev))
		if e.Body != `{"a":"é"}` {
			t.Errorf("body: got %q, want %q", e.Body, `{"a":"é"}`)
		}
	})
	t.Run("invalid base64 is a 400 response, not an error", func(t *testing.T) {
		ev := events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/x", Body: "%%%not base64", IsBase64Encoded: true,
			MultiValueHeaders: map[string][]string{"x-correlation-id": {"corr-bad-event"}}}
		resp := invoke(t, http.HandlerFunc(echo), ev)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status: got %d, want 400", resp.StatusCode)
		}
		if want := `{"correlationId":"corr-bad-event","error":{"code":"BAD_REQUEST","message":"malformed request"},"success":false}`; resp.Body != want {
			t.Errorf("body: got %s, want %s", resp.Body, want)
		}
		if got := resp.MultiValueHeaders["X-Correlation-Id"]; len(got) != 1 || got[0] != "corr-bad-event" {
			t.Errorf("X-Correlation-Id: got %q, want [corr-bad-event]", got)
		}
	})
	t.Run("binary response body is encoded", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(raw)
		})
		resp := invoke(t, h, events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/bin"})
		if resp.StatusCode != http.StatusOK || !resp.IsBase64Encoded {
			t.Fatalf("got status %d base64 %v, want 200 true", resp.StatusCode, resp.IsBase64Encoded)
		}
		got, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil || string(got) != string(raw) {
			t.Errorf("body: got %x (%v), want %x", got, err, raw)
		}
	})
}

func TestStatusCodes(t *testing.T) {
	for _, status := range []int{200, 201, 202, 204, 400, 404, 409, 422, 500, 503} {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			w.WriteHeader(http.StatusTeapot) // ignored, as net/http does
			if status != http.StatusNoContent {
				_, _ = io.WriteString(w, http.StatusText(status))
			}
		})
		resp := invoke(t, h, events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/s"})
		if resp.StatusCode != status {
			t.Errorf("status: got %d, want %d", resp.StatusCode, status)
		}
		want := http.StatusText(status)
		if status == http.StatusNoContent {
			want = ""
		}
		if resp.Body != want || resp.IsBase64Encoded {
			t.Errorf("status %d body: got %q (base64 %v), want %q", status, resp.Body, resp.IsBase64Encoded, want)
		}
	}
}

func TestHandlerWritingNothing(t *testing.T) {
	resp := invoke(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
	if resp.StatusCode != http.StatusOK || resp.Body != "" || resp.IsBase64Encoded {
		t.Errorf("got %d %q base64=%v, want 200 with an empty body", resp.StatusCode, resp.Body, resp.IsBase64Encoded)
	}
	if len(resp.MultiValueHeaders) != 0 {
		t.Errorf("headers: got %v, want none", resp.MultiValueHeaders)
	}
}

func TestPanicIsAResponse(t *testing.T) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	resp := invoke(t, h, events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status: got %d, want 500", resp.StatusCode)
	}
	var body struct {
		Success       bool              `json:"success"`
		CorrelationID string            `json:"correlationId"`
		Error         map[string]string `json:"error"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("body %s: %v", resp.Body, err)
	}
	// No X-Correlation-Id came with the event: one is made up, and the answer and its header agree.
	if body.Success || body.CorrelationID == "" || body.CorrelationID != resp.Headers["X-Correlation-Id"] ||
		body.Error["code"] != "INTERNAL" || body.Error["message"] != "internal error" {
		t.Errorf("got %s (X-Correlation-Id %q), want success false, a correlationId equal to the header, INTERNAL internal error", resp.Body, resp.Headers["X-Correlation-Id"])
	}
}

func TestContextCarriesDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var had bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, had = r.Context().Deadline() })
	if _, err := apigw.Handler(h, slog.New(slog.DiscardHandler))(ctx, events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"}); err != nil {
		t.Fatal(err)
	}
	if !had {
		t.Error("request context has no deadline: the invocation's deadline was not passed on")
	}
}

// whoAmI answers with the principal the request carries, or 204 without one.
func whoAmI(w http.ResponseWriter, r *http.Request) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p)
}

// The caller an authorizer authenticated reaches the handler as the request's principal, from a
// Cognito user pool authorizer's claims or a Lambda authorizer's context; an event without one has no
// principal, and one the rules refuse is a 401 that never reaches the handler.
func TestAuthorizerCaller(t *testing.T) {
	event := func(authorizer map[string]any) events.APIGatewayProxyRequest {
		return events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/dev/orchestrator/create-and-confirm-order",
			RequestContext: events.APIGatewayProxyRequestContext{Stage: "dev", Authorizer: authorizer}}
	}
	for _, tc := range []struct {
		name       string
		authorizer map[string]any
		require    bool
		status     int
		want       auth.Principal
	}{
		{"cognito claims", map[string]any{"claims": map[string]any{"sub": "9f1c-user", "scope": "orders:write", "customer_id": "7", "token_use": "access"}}, true,
			200, auth.Principal{Subject: "9f1c-user", CustomerID: 7, Scopes: []string{"orders:write"}}},
		{"lambda authorizer context", map[string]any{"principalId": "ops-alice", "sub": "ops-alice", "scope": "orders:write orders:read", "integrationLatency": 4.0}, true,
			200, auth.Principal{Subject: "ops-alice", Scopes: []string{"orders:write", "orders:read"}}},
		{"no authorizer, local", nil, false, 204, auth.Principal{}},
		{"no authorizer, required", nil, true, 401, auth.Principal{}},
		{"an authorizer without a caller, required", map[string]any{"principalId": "x"}, true, 401, auth.Principal{}},
		{"a customer_id that is no id", map[string]any{"sub": "u", "customer_id": "seven"}, false, 401, auth.Principal{}},
		{"a subject with a newline", map[string]any{"claims": map[string]any{"sub": "u\nlevel=ERROR"}}, false, 401, auth.Principal{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []apigw.Option
			if tc.require {
				opts = append(opts, apigw.RequireAuthorizer())
			}
			resp, err := apigw.Handler(http.HandlerFunc(whoAmI), slog.New(slog.DiscardHandler), opts...)(context.Background(), event(tc.authorizer))
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, %v; want %d", resp.StatusCode, resp.Body, err, tc.status)
			}
			switch tc.status {
			case 200:
				var got auth.Principal
				if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Errorf("principal: got %+v (%v), want %+v", got, err, tc.want)
				}
			case 401:
				if http.Header(resp.MultiValueHeaders).Get("WWW-Authenticate") != auth.ChallengeInvalidToken || !strings.Contains(resp.Body, `"code":"UNAUTHENTICATED"`) {
					t.Errorf("401: got %v %s", resp.Headers, resp.Body)
				}
			}
		})
	}
}
