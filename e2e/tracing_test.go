package e2e_test

import (
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway/gatewaytest"
)

// otlpReceiver is a collector's OTLP/HTTP traces endpoint: it decodes
// what the gateway exports (protobuf) and keeps the spans.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	resource map[string]string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(raw, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			o.resource[kv.Key] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
}

// span waits for the span of name in the trace.
func (o *otlpReceiver) span(t *testing.T, name, traceID string) *tracepb.Span {
	t.Helper()
	return o.where(t, "span "+name, func(s *tracepb.Span) bool {
		return s.Name == name && hex.EncodeToString(s.TraceId) == traceID
	})
}

// attr is a span attribute as text.
func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v := kv.GetValue(); v.GetStringValue() != "" {
				return v.GetStringValue()
			}
			return strings.TrimPrefix(kv.GetValue().String(), "int_value:")
		}
	}
	return ""
}

// TestTracesReachACollector: with tracing on, a proxied request's spans
// (the request, the dialect's decision, the upstream round trip) arrive
// at a real OTLP/HTTP receiver with the right parentage and attributes
// and never a token; the upstream receives the gateway's traceparent; a
// client's own traceparent is not believed, a trusted proxy's is the
// parent; the access log line carries the trace id; a login is traced
// too.
func TestTracesReachACollector(t *testing.T) {
	rcv := &otlpReceiver{resource: map[string]string{}}
	collector := gatewaytest.HTTPTestServer(t, rcv)
	var mu sync.Mutex
	var upstreamParent string
	up := gatewaytest.HTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upstreamParent = r.Header.Get("Traceparent")
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	tg := gatewaytest.Start(t, gatewaytest.Options{
		Extra:  "tracing:\n  endpoint: " + collector.URL + "\n  sampling_ratio: 1\n  batch_timeout: 10ms\n  service_name: authgate-test\n  resource_attributes: {deployment.environment: ci}\n",
		Routes: "routes:\n  - path_prefix: /v1/\n    dialects: [mmm]\n    upstream: " + up.URL + "\n",
	})
	p := tg.Login(t)
	clientTrace := "4bf92f3577b34da6a3ce929d0e0e4736"
	r := tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access,
		"Traceparent": "00-" + clientTrace + "-00f067aa0ba902b7-01"}, "")
	if r.Status != 200 {
		t.Fatalf("proxied: %d %s", r.Status, r.Raw)
	}
	mu.Lock()
	parent := upstreamParent
	mu.Unlock()
	parts := strings.Split(parent, "-")
	if len(parts) != 4 || parts[1] == clientTrace || parts[3] != "01" {
		t.Fatalf("upstream traceparent %q: want the gateway's own trace, sampled (a client's is not believed)", parent)
	}
	traceID := parts[1]
	req := rcv.span(t, "HTTP GET", traceID)
	auth := rcv.span(t, "authgate.authenticate", traceID)
	ups := rcv.span(t, "upstream", traceID)
	if len(req.ParentSpanId) != 0 || req.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("request span: parent %x kind %v, want a root server span", req.ParentSpanId, req.Kind)
	}
	if string(auth.ParentSpanId) != string(req.SpanId) || string(ups.ParentSpanId) != string(req.SpanId) {
		t.Errorf("the decision and the upstream are not children of the request span")
	}
	if hex.EncodeToString(ups.SpanId) != parts[2] || ups.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("the upstream's traceparent parent %s, want the upstream span %x", parts[2], ups.SpanId)
	}
	if attr(auth, "authgate.dialect") != "mmm" || attr(auth, "authgate.result") != "ok" || attr(req, "http.route") != "/v1/" || attr(req, "http.response.status_code") != "200" {
		t.Errorf("attributes: decision %v, request %v", auth.Attributes, req.Attributes)
	}
	for _, s := range []*tracepb.Span{req, auth, ups} {
		if strings.Contains(s.String(), p.Access) {
			t.Fatalf("a token in span %s", s.Name)
		}
	}
	if rcv.resource["service.name"] != "authgate-test" || rcv.resource["deployment.environment"] != "ci" {
		t.Errorf("resource %v", rcv.resource)
	}
	if !strings.Contains(tg.Logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Error("the access log line does not carry the trace id")
	}
	// The latency histogram carries the trace as an exemplar (OpenMetrics).
	mr, _ := http.NewRequest("GET", tg.Admin.URL+"/metrics", nil)
	mr.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(mr)
	if err != nil {
		t.Fatal(err)
	}
	om, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(om), `# {trace_id="`+traceID+`"}`) {
		t.Errorf("no exemplar of trace %s in the OpenMetrics scrape:\n%s", traceID, gatewaytest.GrepLines(string(om), "request_duration"))
	}

	// From a trusted proxy (the peer here is 127.0.0.1), its trace
	// context is the parent.
	trusted := gatewaytest.Start(t, gatewaytest.Options{
		Server: "  trusted_proxies: [127.0.0.1]\n",
		Extra:  "tracing:\n  endpoint: " + collector.URL + "\n  sampling_ratio: 1\n  batch_timeout: 10ms\n",
		Routes: "routes:\n  - path_prefix: /v1/\n    dialects: [mmm]\n    upstream: " + up.URL + "\n",
	})
	tp := trusted.Login(t)
	if r := trusted.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": tp.Access,
		"Traceparent": "00-" + clientTrace + "-00f067aa0ba902b7-01"}, ""); r.Status != 200 {
		t.Fatalf("through a trusted proxy: %d %s", r.Status, r.Raw)
	}
	mu.Lock()
	parent = upstreamParent
	mu.Unlock()
	if !strings.HasPrefix(parent, "00-"+clientTrace+"-") {
		t.Fatalf("upstream traceparent %q: want the trusted proxy's trace %s", parent, clientTrace)
	}
	if child := rcv.span(t, "HTTP GET", clientTrace); hex.EncodeToString(child.ParentSpanId) != "00f067aa0ba902b7" {
		t.Errorf("the request span's parent is %x, want the trusted proxy's span", child.ParentSpanId)
	}

	// The session check is a store span under the decision.
	check := rcv.span(t, "store.check_session", traceID)
	if string(check.ParentSpanId) != string(auth.SpanId) || attr(check, "authgate.store.op") != "check_session" || check.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("store span: parent %x (the decision is %x), %v %v", check.ParentSpanId, auth.SpanId, check.Attributes, check.Status)
	}

	// A login and a refresh are traced too, each with its store write
	// and the login with its password check under the request span.
	lp := tg.Login(t)
	login := rcv.where(t, "a login span", func(s *tracepb.Span) bool {
		return s.Name == "HTTP POST" && attr(s, "http.route") == "auth:mmm" && attr(s, "http.response.status_code") == "200"
	})
	for _, name := range []string{"store.create_session", "password.verify"} {
		child := rcv.span(t, name, hex.EncodeToString(login.TraceId))
		if string(child.ParentSpanId) != string(login.SpanId) {
			t.Errorf("%s is not a child of the login's request span", name)
		}
	}
	if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": lp.Refresh}, ""); r.Code(t) != "00000" {
		t.Fatalf("refresh: %s", r.Raw)
	}
	refresh := rcv.where(t, "a refresh span", func(s *tracepb.Span) bool {
		return s.Name == "HTTP GET" && attr(s, "http.route") == "auth:mmm"
	})
	rotate := rcv.span(t, "store.rotate_refresh", hex.EncodeToString(refresh.TraceId))
	if string(rotate.ParentSpanId) != string(refresh.SpanId) {
		t.Errorf("store.rotate_refresh is not a child of the refresh's request span")
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, s := range rcv.spans {
		if text := s.String(); strings.Contains(text, lp.Access) || strings.Contains(text, lp.Refresh) || strings.Contains(text, "demo123") {
			t.Fatalf("a secret in span %s", s.Name)
		}
	}
}

// where waits for a span that match accepts.
func (o *otlpReceiver) where(t *testing.T, what string, match func(*tracepb.Span) bool) *tracepb.Span {
	t.Helper()
	var found *tracepb.Span
	dialecttest.WaitFor(t, what, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, s := range o.spans {
			if match(s) {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// grpcReceiver is a collector's OTLP/gRPC trace service.
type grpcReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	rcv *otlpReceiver
}

func (g grpcReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.rcv.mu.Lock()
	defer g.rcv.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			g.rcv.spans = append(g.rcv.spans, ss.Spans...)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestTracesOverGRPC: with protocol grpc, the same spans reach a real
// OTLP/gRPC trace service, with their parentage.
func TestTracesOverGRPC(t *testing.T) {
	rcv := &otlpReceiver{resource: map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, grpcReceiver{rcv: rcv})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	tg := gatewaytest.Start(t, gatewaytest.Options{
		Extra: "tracing:\n  endpoint: http://" + ln.Addr().String() + "\n  protocol: grpc\n  sampling_ratio: 1\n  batch_timeout: 10ms\n",
	})
	p := tg.Login(t)
	if r := tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}, ""); r.Status != 200 {
		t.Fatalf("proxied: %d %s", r.Status, r.Raw)
	}
	req := rcv.where(t, "a proxied request's span over gRPC", func(s *tracepb.Span) bool {
		return s.Name == "HTTP GET" && attr(s, "http.route") == "mmm-api"
	})
	auth := rcv.span(t, "authgate.authenticate", hex.EncodeToString(req.TraceId))
	if string(auth.ParentSpanId) != string(req.SpanId) {
		t.Errorf("the decision is not a child of the request span")
	}
}
