// Package sms delivers one-time login codes: a webhook sender that POSTs
// them, signed, to the SMS service, and a log sender for development.
// It knows nothing of dialects or the token store.
package sms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Message is one code to deliver.
type Message struct {
	Mobile   string `json:"mobile"`
	Code     string `json:"code"`
	Template string `json:"template"`
}

// Sender delivers a code; an error means it was not sent.
type Sender interface {
	Send(ctx context.Context, m Message) error
	// Name labels the sender in metrics ("webhook", "log").
	Name() string
}

// Log writes codes to the log. It exists for development only: anyone who
// reads the log can log in as anyone; the gateway warns when it is on.
type Log struct {
	Logger *slog.Logger
}

// Send implements Sender.
func (l Log) Send(ctx context.Context, m Message) error {
	l.Logger.WarnContext(ctx, "SMS code (log sender, development only)", "mobile", m.Mobile, "code", m.Code, "template", m.Template)
	return nil
}

// Name implements Sender.
func (Log) Name() string { return "log" }

// Webhook POSTs {mobile, code, template} as JSON to URL. The body is
// signed with HMAC-SHA256 over "<timestamp>.<body>", sent as
// SignatureHeader: "t=<unix seconds>,v1=<hex>", so the SMS service can
// reject forged or replayed requests.
type Webhook struct {
	URL             string
	Secret          []byte
	SignatureHeader string
	// Timeout bounds each attempt.
	Timeout time.Duration
	// MaxAttempts is how many tries a send gets (network errors and 5xx
	// are retried; 4xx are not).
	MaxAttempts int
	// Backoff is the pause before the second attempt, doubled after.
	Backoff time.Duration
	Client  *http.Client
	Now     func() time.Time
}

// Name implements Sender.
func (*Webhook) Name() string { return "webhook" }

// errPermanent marks an answer that a retry will not change.
var errPermanent = errors.New("sms: webhook refused the message")

// Send implements Sender.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	attempts := max(w.MaxAttempts, 1)
	wait := w.Backoff
	var last error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("sms: webhook: %w (last: %v)", ctx.Err(), last)
			case <-time.After(wait):
			}
			wait *= 2
		}
		last = w.post(ctx, body)
		if last == nil || errors.Is(last, errPermanent) {
			return last
		}
	}
	return fmt.Errorf("sms: webhook: %d attempts: %w", attempts, last)
}

func (w *Webhook) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	mac := hmac.New(sha256.New, w.Secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(w.SignatureHeader, "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500:
		return fmt.Errorf("sms: webhook answered %d", resp.StatusCode)
	default:
		return fmt.Errorf("%w: status %d", errPermanent, resp.StatusCode)
	}
}

// VerifySignature checks a webhook request's signature header against
// body; SMS services (and tests) use it to accept only the gateway's calls.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, maxAge time.Duration) bool {
	var ts int64
	var sig string
	if _, err := fmt.Sscanf(header, "t=%d,v1=%s", &ts, &sig); err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxAge || d < -maxAge {
		return false
	}
	want, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), want)
}
