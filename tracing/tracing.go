// Package tracing exports the gateway's traces to an OpenTelemetry
// collector over OTLP, HTTP/protobuf (port 4318, the default) or gRPC
// (4317), with the official Go SDK. Off by default, and then free: the
// no-op tracer records nothing and allocates nothing. (gRPC export was
// measured before it came in: +0.4 MB of binary, the gRPC stack being
// linked already, and no measurable build time.)
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config is the `tracing` block.
type Config struct {
	// Endpoint is the collector's OTLP base URL
	// (http://otel-collector:4318, or :4317 for grpc); empty turns
	// tracing off.
	Endpoint string `koanf:"endpoint"`
	// Protocol is http/protobuf (the default) or grpc, as the
	// OTEL_EXPORTER_OTLP_PROTOCOL values spell them.
	Protocol string `koanf:"protocol"`
	// SamplingRatio is the share of traces started here that are
	// sampled (0 to 1); a trusted caller's sampled parent is followed
	// (parent-based).
	SamplingRatio float64 `koanf:"sampling_ratio"`
	// ServiceName is the service.name resource attribute;
	// ResourceAttributes are further ones (deployment.environment, ...).
	ServiceName        string            `koanf:"service_name"`
	ResourceAttributes map[string]string `koanf:"resource_attributes"`
	// Headers go with every export (a collector's credential).
	Headers map[string]string `koanf:"headers"`
	// Baggage also takes a trusted caller's W3C baggage and passes it on.
	Baggage bool `koanf:"baggage"`
	// BatchTimeout is how long spans wait to be exported together.
	BatchTimeout time.Duration `koanf:"batch_timeout"`
}

// Defaults are the block's values when the config leaves them out.
func Defaults() Config {
	return Config{Protocol: "http/protobuf", SamplingRatio: 0.01, ServiceName: "authgate", BatchTimeout: 5 * time.Second}
}

// Tracing is the process's tracer and propagator.
type Tracing struct {
	// Tracer starts the gateway's spans (a no-op one when off).
	Tracer trace.Tracer
	// Propagator reads a trusted caller's trace context and writes the
	// gateway's to the upstream: W3C traceparent/tracestate, and baggage
	// when configured.
	Propagator propagation.TextMapPropagator
	provider   *sdktrace.TracerProvider
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// Validate lists the block's problems, each naming its key relative to
// the block, without starting anything.
func Validate(c Config) error {
	if c.Endpoint == "" {
		return nil
	}
	var errs []error
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint: %q is not an http(s) URL (the collector's OTLP port: 4318 for http/protobuf, 4317 for grpc)", c.Endpoint))
	}
	if c.Protocol != "http/protobuf" && c.Protocol != "grpc" {
		errs = append(errs, fmt.Errorf("protocol: %q is not one of http/protobuf, grpc", c.Protocol))
	}
	if c.SamplingRatio < 0 || c.SamplingRatio > 1 {
		errs = append(errs, fmt.Errorf("sampling_ratio: %v is not between 0 and 1", c.SamplingRatio))
	}
	if c.BatchTimeout <= 0 {
		errs = append(errs, errors.New("batch_timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// Open checks the block and starts the exporter (it does not dial: the
// first export does); problems name their key relative to the block.
func Open(c Config) (*Tracing, error) {
	if c.Endpoint == "" {
		return &Tracing{Tracer: noop.NewTracerProvider().Tracer("authgate"), Propagator: propagation.TraceContext{}}, nil
	}
	if err := Validate(c); err != nil {
		return nil, err
	}
	u, _ := url.Parse(c.Endpoint)
	exp, err := exporter(c, u)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", c.ServiceName)}
	for k, v := range c.ResourceAttributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(c.BatchTimeout)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SamplingRatio))),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	)
	// Leaf packages that hold a request's context (the legacy service's
	// introspection, the sql directory) start their spans from the global
	// provider: a no-op one unless tracing is on.
	otel.SetTracerProvider(tp)
	var prop propagation.TextMapPropagator = propagation.TraceContext{}
	if c.Baggage {
		prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return &Tracing{Tracer: tp.Tracer("github.com/authgate/authgate"), Propagator: prop, provider: tp}, nil
}

// exporter is the OTLP exporter of c's protocol to u (plain text for an
// http URL, TLS for https); neither dials before its first export.
func exporter(c Config, u *url.URL) (sdktrace.SpanExporter, error) {
	if c.Protocol == "grpc" {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(u.Host), otlptracegrpc.WithHeaders(c.Headers)}
		if u.Scheme == "http" {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(context.Background(), opts...)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.JoinPath("/v1/traces").String()), otlptracehttp.WithHeaders(c.Headers)}
	if u.Scheme == "http" {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	return otlptracehttp.New(context.Background(), opts...)
}

// Close exports what is left and stops the exporter.
func (t *Tracing) Close(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.provider.Shutdown(ctx)
}
