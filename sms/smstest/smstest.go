// Package smstest is a real HTTP receiver standing in for the SMS
// provider in tests: it checks the webhook sender's signature and keeps
// the codes it was sent.
package smstest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/sms"
)

// Secret is the webhook secret the receiver checks signatures with.
const Secret = "webhook-secret-0123456789"

// Receiver is the stand-in SMS provider.
type Receiver struct {
	*httptest.Server
	mu     sync.Mutex
	codes  map[string]string
	calls  int
	status int // answer with this status instead of 200 when set
}

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	s := &Receiver{codes: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		if !sms.VerifySignature([]byte(Secret), r.Header.Get("X-Authgate-Signature"), body, time.Now(), 24*time.Hour*365*10) {
			t.Errorf("webhook signature %q does not verify", r.Header.Get("X-Authgate-Signature"))
			w.WriteHeader(401)
			return
		}
		if s.status != 0 {
			w.WriteHeader(s.status)
			return
		}
		var m sms.Message
		if err := json.Unmarshal(body, &m); err != nil || m.Template != "login" || len(m.Code) != 6 {
			t.Errorf("webhook body %s", body)
		}
		s.codes[m.Mobile] = m.Code
	}))
	t.Cleanup(s.Close)
	return s
}

// SenderYAML is the sms block (indented by indent) that sends to the
// receiver.
func (s *Receiver) SenderYAML(indent string) string {
	return indent + "sms:\n" + indent + "  sender:\n" + indent + "    type: webhook\n" + indent + "    url: " + s.URL + "\n" +
		indent + "    secret: " + Secret + "\n" + indent + "    backoff: 1ms\n"
}

// Code is the last code sent to mobile; none fails the test.
func (s *Receiver) Code(t testing.TB, mobile string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[mobile]
	if !ok {
		t.Fatalf("no code was sent to %s", mobile)
	}
	return c
}

// Answer makes the receiver answer status from now on (0: 200 again).
func (s *Receiver) Answer(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

// Calls is how many sends reached the receiver.
func (s *Receiver) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}
