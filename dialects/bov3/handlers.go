package bov3

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
)

// TokenUser is the seed's tokenUser, with its JSON types (lists are
// arrays, developer an integer).
type TokenUser struct {
	ClientID    string   `json:"clientId"`
	UserID      string   `json:"userId"`
	UserName    string   `json:"userName"`
	PushName    string   `json:"pushName"`
	RoleID      []string `json:"roleId"`
	DepID       []string `json:"depId"`
	AreaCode    []string `json:"areaCode"`
	JobID       []string `json:"jobId"`
	SysID       []string `json:"sysId"`
	MergeUserID []string `json:"mergeUserId"`
	Developer   int      `json:"developer"`
}

// TokenData is the seed's data of a refresh (and of a login).
type TokenData struct {
	TokenType    string    `json:"tokenType"`
	TokenUser    TokenUser `json:"tokenUser"`
	TimeStamp    float64   `json:"timeStamp"`
	RefreshToken string    `json:"refreshToken"`
	AccessToken  string    `json:"accessToken"`
	ClientID     string    `json:"clientId"`
	Expires      string    `json:"expires"`
	ExpiresIn    int64     `json:"expiresIn"`
}

// success is the seed's success envelope.
type success struct {
	Success   bool   `json:"success"`
	Data      any    `json:"data"`
	CacheType string `json:"cacheType"`
	CacheDate string `json:"cacheDate"`
}

// Layouts of the seed's dates.
const (
	expiresLayout = "2006-01-02T15:04:05"
	claimLayout   = "2006/1/2 15:04:05"
)

// keyStyle reads _nodejs: "" or common-data → camelCase, common-data-under
// → snake_case; anything else is refused.
func keyStyle(r *http.Request) (snake bool, err error) {
	if err := dialects.SingleQuery(r, "_nodejs", "refreshToken"); err != nil {
		return false, err
	}
	switch v := r.URL.Query().Get("_nodejs"); v {
	case "", "common-data":
		return false, nil
	case "common-data-under":
		return true, nil
	default:
		return false, fail(codeBadKeyStyle, "_nodejs must be common-data or common-data-under, not "+strconv.Quote(v), nil)
	}
}

// writeData answers data in the requested key style.
func (d *Dialect) writeData(w http.ResponseWriter, snake bool, data any, readAt time.Time) {
	out := data
	if snake {
		raw, err := json.Marshal(data)
		if err == nil {
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.UseNumber()
			var generic any
			if err = dec.Decode(&generic); err == nil {
				out = SnakeKeys(generic)
			}
		}
	}
	dialects.WriteJSON(w, http.StatusOK, success{Success: true, Data: out, CacheType: d.storeKind, CacheDate: readAt.In(d.loc).Format(expiresLayout)})
}

const refreshAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newRefreshToken is 32 characters from [A-Za-z0-9], like the seed's
// MtP0zZx1gZE66xDnhwd1UV973XoVL4nT: 190 bits of randomness.
func newRefreshToken() string {
	b := make([]byte, 32)
	max := big.NewInt(int64(len(refreshAlphabet)))
	for i := range b {
		n, _ := rand.Int(rand.Reader, max) // crypto/rand does not fail
		b[i] = refreshAlphabet[n.Int64()]
	}
	return string(b)
}

func wellFormedRefresh(t string) bool {
	if len(t) != 32 {
		return false
	}
	for i := range len(t) {
		if !strings.ContainsRune(refreshAlphabet, rune(t[i])) {
			return false
		}
	}
	return true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func tokenUser(u boUser) TokenUser {
	p := u.BO
	return TokenUser{
		ClientID: p.ClientID, UserID: p.UserID, UserName: u.Account, PushName: p.PushName,
		RoleID: nonNil(p.RoleID), DepID: nonNil(p.DepID), AreaCode: nonNil(p.AreaCode), JobID: nonNil(p.JobID),
		SysID: nonNil(p.SysID), MergeUserID: nonNil(p.MergeUserID), Developer: p.Developer,
	}
}

// issue builds the data of a login or refresh: a new access token for the
// session, with the (unchanged) refresh token and its expiry.
func (d *Dialect) issue(u boUser, sid, owner, refresh string, refreshExp, now time.Time) (TokenData, error) {
	p := u.BO
	now = now.Truncate(time.Second)
	exp := now.Add(d.cfg.AccessTTL)
	tok, err := d.access.Sign(jwt.NewBuilder().
		Audience([]string{d.cfg.Audience}).
		Claim("id", p.UserID).Claim("name", u.Account).Claim("client_id", p.ClientID).
		Claim("expires", exp.In(d.loc).Format(claimLayout)).
		Claim("open_id", "").Claim("wb_id", "").Claim("wx_open_id", "").Claim("wx_union_id", "").
		Claim("telephone", u.Mobile).Claim("push_name", p.PushName).Claim("head_icon", p.HeadIcon).
		Claim("dep_id", strings.Join(p.DepID, ",")).Claim("sys_id", strings.Join(p.SysID, ",")).
		Claim("merge_user_id", strings.Join(p.MergeUserID, ",")).Claim("area_code", strings.Join(p.AreaCode, ",")).
		Claim("role_id", strings.Join(p.RoleID, ",")).Claim("developer", strconv.Itoa(p.Developer)).
		Claim("sid", sid).Claim("owner", owner).
		NotBefore(now).Expiration(exp).IssuedAt(now))
	if err != nil {
		return TokenData{}, err
	}
	expiresIn := int64(d.cfg.AccessTTL / time.Second)
	if d.cfg.ExpiresIn == "timestamp_ms" {
		expiresIn = exp.UnixMilli()
	}
	return TokenData{
		TokenType: "Bearer", TokenUser: tokenUser(u),
		TimeStamp:    float64(d.now().UnixMicro()) / 1000,
		RefreshToken: refresh, AccessToken: tok, ClientID: p.ClientID,
		Expires: refreshExp.In(d.loc).Format(expiresLayout), ExpiresIn: expiresIn,
	}, nil
}

type loginRequest struct {
	UserName *string `json:"userName"`
	Password *string `json:"password"`
}

// login is POST /bo/api/v3/auth/login {"userName","password"}, answering
// the same data as refresh.
func (d *Dialect) login(w http.ResponseWriter, r *http.Request) error {
	snake, err := keyStyle(r)
	if err != nil {
		return err
	}
	owner, err := d.checkContext(r)
	if err != nil {
		return err
	}
	var req loginRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.UserName == nil || *req.UserName == "" || req.Password == nil || *req.Password == "" {
		return &dialects.RequestError{Msg: "userName and password are required"}
	}
	dialects.NoteSubject(r, *req.UserName)
	ctx, now := r.Context(), d.now()
	limit := dialects.Limit{Key: d.keys.Key("login", dialects.ClientIP(r)), Window: d.cfg.LoginWindow, Max: d.cfg.LoginLimit}
	if _, err := dialects.CountAttempt(ctx, d.store, d.log, now, limit); err != nil {
		return err
	}
	found, err := d.users.Authenticate(ctx, *req.UserName, *req.Password)
	u := asBO(found)
	if err == nil && u.BO == nil {
		err = identity.ErrBadCredentials // no bo profile: not a bo user
	}
	if errors.Is(err, identity.ErrBadCredentials) {
		return fail(codeLoginFailed, "wrong user name or password", err)
	}
	if err != nil {
		return err
	}
	if len(u.BO.Owners) > 0 && !slices.Contains(u.BO.Owners, owner) {
		return fail(codeOwnerMismatch, "the user has no access to this project (XownerId)", nil)
	}
	refresh := newRefreshToken()
	sid := d.sessionID(refresh)
	refreshExp := now.Add(d.cfg.RefreshTTL).Truncate(time.Second)
	if err := d.store.CreateSession(ctx, tokenstore.Session{
		ID: sid, Dialect: d.name, Subject: u.BO.UserID,
		Attrs:     map[string]string{"owner": owner, "account": u.Account},
		CreatedAt: now, LastSeen: now, ExpiresAt: refreshExp, RefreshHash: dialects.HashToken(refresh),
	}, now); err != nil {
		return err
	}
	data, err := d.issue(u, sid, owner, refresh, refreshExp, now)
	if err != nil {
		return err
	}
	d.metrics.Issued(d.name, "login")
	dialects.NoteSubject(r, u.BO.UserID)
	d.writeData(w, snake, data, now)
	return nil
}

// refresh is GET /bo/api/v3/auth/token/refresh?refreshToken=...: a new
// access token, the same refresh token (as in the seed's example).
func (d *Dialect) refresh(w http.ResponseWriter, r *http.Request) error {
	snake, err := keyStyle(r)
	if err != nil {
		return err
	}
	owner, err := d.checkContext(r)
	if err != nil {
		return err
	}
	refresh := r.URL.Query().Get("refreshToken")
	if refresh == "" {
		return &dialects.RequestError{Msg: "refreshToken is required"}
	}
	if !wellFormedRefresh(refresh) {
		d.metrics.Refreshed(d.name, "invalid")
		return refuse(codeRefreshInvalid, dialects.ReasonMalformed, "refreshToken is invalid or expired", nil)
	}
	ctx, now := r.Context(), d.now()
	sess, err := d.findSession(ctx, refresh, now)
	if errors.Is(err, tokenstore.ErrNotFound) && d.legacy != nil {
		// Not one of the gateway's: perhaps the legacy service's.
		sess, err = d.adoptLegacy(r, refresh, owner, now)
	}
	if errors.Is(err, tokenstore.ErrNotFound) || errors.Is(err, dialects.ErrLegacyRefused) ||
		(err == nil && subtle.ConstantTimeCompare([]byte(sess.RefreshHash), []byte(dialects.HashToken(refresh))) != 1) {
		d.metrics.Refreshed(d.name, "invalid")
		return refuse(codeRefreshInvalid, dialects.ReasonRevoked, "refreshToken is invalid or expired", err)
	}
	if err != nil {
		return err
	}
	if sess.Attrs["owner"] != owner {
		d.metrics.Refreshed(d.name, "owner_mismatch")
		return refuse(codeOwnerMismatch, dialects.ReasonRevoked, "the refresh token belongs to another project (XownerId)", nil)
	}
	found, err := d.users.ByAccount(ctx, sess.Attrs["account"])
	u := asBO(found)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return err
	}
	if err != nil || u.BO == nil || (len(u.BO.Owners) > 0 && !slices.Contains(u.BO.Owners, owner)) {
		// The user left the users file (or the project) since login.
		if err := d.store.RevokeSession(ctx, sess.ID); err != nil {
			return err
		}
		d.metrics.Refreshed(d.name, "revoked")
		return refuse(codeTokenRevoked, dialects.ReasonRevoked, "the user no longer exists", nil)
	}
	data, err := d.issue(u, sess.ID, owner, refresh, sess.ExpiresAt, now)
	if err != nil {
		return err
	}
	d.metrics.Refreshed(d.name, "rotated")
	d.metrics.Issued(d.name, "refresh")
	dialects.NoteSubject(r, sess.Subject)
	d.writeData(w, snake, data, now)
	return nil
}

// adoptLegacy asks the legacy service about a refresh token the gateway
// does not know: a genuine one of a bo user becomes a gateway session
// under the id the token derives (bov3 refresh tokens do not rotate, so
// the client keeps it), and the session is read back. An exchanged token
// whose session has ended is not adopted again (tokenstore.ErrNotFound).
func (d *Dialect) adoptLegacy(r *http.Request, refresh, owner string, now time.Time) (tokenstore.Session, error) {
	ctx := r.Context()
	a, err := d.legacy.Check(ctx, refresh)
	if err != nil {
		return tokenstore.Session{}, err
	}
	found, err := d.users.ByAccount(ctx, a.Subject)
	u := asBO(found)
	if errors.Is(err, identity.ErrNotFound) || (err == nil && u.BO == nil) {
		d.legacy.Count(dialects.LegacyRefresh, "refused")
		return tokenstore.Session{}, fmt.Errorf("bov3: legacy token of %q, who is no bo user here: %w", a.Subject, dialects.ErrLegacyRefused)
	}
	if err != nil {
		return tokenstore.Session{}, err
	}
	sid := d.sessionID(refresh)
	ends, remember := d.legacy.Terms(a.Expires, now, d.cfg.RefreshTTL)
	sess, _, err := dialects.AdoptLegacy(ctx, d.store, d.legacy, dialects.Adoption{Session: tokenstore.Session{
		ID: sid, Dialect: d.name, Subject: u.BO.UserID,
		Attrs:     map[string]string{"owner": owner, "account": u.Account},
		CreatedAt: now, LastSeen: now, ExpiresAt: ends,
		RefreshHash: dialects.HashToken(refresh),
	}, Remember: remember}, now)
	return sess, err
}

// logout is POST /bo/api/v3/auth/logout with a valid access token: the
// session and its refresh token end.
func (d *Dialect) logout(w http.ResponseWriter, r *http.Request) error {
	id, err := d.Authenticate(r)
	if err != nil {
		return err
	}
	if err := d.store.RevokeSession(r.Context(), id.SessionID); err != nil {
		return err
	}
	dialects.NoteSubject(r, id.Subject)
	dialects.WriteJSON(w, http.StatusOK, success{Success: true, Data: struct{}{}, CacheType: d.storeKind, CacheDate: d.now().In(d.loc).Format(expiresLayout)})
	return nil
}
