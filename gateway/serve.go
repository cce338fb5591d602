package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/authgate/authgate/internal/framing"
	"github.com/authgate/authgate/pipeline"
)

// Run listens on server.listen and server.admin_listen and serves until
// ctx is done, then shuts down gracefully: /readyz turns 503 at once, the
// public listener keeps serving for server.drain_delay (load balancers
// take the replica out meanwhile), then the listeners close and in-flight
// requests get server.shutdown_timeout to finish.
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", g.cfg.Server.Listen, err)
	}
	adminLn, err := net.Listen("tcp", g.cfg.Server.AdminListen)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("gateway: admin listen %s: %w", g.cfg.Server.AdminListen, err)
	}
	return g.Serve(ctx, ln, adminLn)
}

// Serve is Run on listeners the caller opened.
func (g *Gateway) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	s := g.cfg.Server
	public := &http.Server{
		Handler: g.handler, ReadHeaderTimeout: s.ReadHeaderTimeout, IdleTimeout: s.IdleTimeout,
		MaxHeaderBytes: s.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: s.HTTP2MaxConcurrentStreams},
	}
	admin := &http.Server{Handler: g.admin, ReadHeaderTimeout: s.ReadHeaderTimeout}
	errc := make(chan error, 2)
	// Ambiguous HTTP/1.1 framing is refused before Go's parser reads it
	// (internal/framing), on every listener; with TLS the guard terminates
	// TLS itself and reads HTTP/1.1 on the plaintext (HTTP/2 connections
	// go to the server untouched), and the request still knows its TLS
	// state (tlsState).
	adminLn = framing.Listener(adminLn, s.MaxHeaderBytes+4096, g.b.FramingRefused("admin"))
	if s.TLSCertFile != "" {
		// The running config's certificate: a reload brings a renewed one.
		public.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return g.current.Load().Certificate(), nil
			}}
		public.ConnContext = pipeline.WithTLSState
		ln = framing.TLSListener(ln, public.TLSConfig, s.ReadHeaderTimeout, s.MaxHeaderBytes+4096, g.b.FramingRefused("public"))
		go func() { errc <- public.Serve(ln) }()
	} else {
		ln = framing.Listener(ln, s.MaxHeaderBytes+4096, g.b.FramingRefused("public"))
		go func() { errc <- public.Serve(ln) }()
	}
	go func() { errc <- admin.Serve(adminLn) }()
	g.log.Info("authgate listening", "listen", ln.Addr().String(), "admin_listen", adminLn.Addr().String(), "store", g.cfg.Store.Driver)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	g.draining.Store(true)
	if serveErr == nil && s.DrainDelay > 0 {
		g.log.Info("draining: readiness answers 503, still serving until load balancers stop sending", "drain_delay", s.DrainDelay.String())
		drain := time.NewTimer(s.DrainDelay)
		select {
		case <-drain.C:
		case serveErr = <-errc:
			drain.Stop()
		}
	}
	g.log.Info("shutting down; finishing in-flight requests", "timeout", s.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	err := errors.Join(public.Shutdown(sctx), admin.Shutdown(sctx))
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(serveErr, err)
	}
	return err
}
