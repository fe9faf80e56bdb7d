package flowprobe_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// api is a small API like the one Lookout watches: POST /auth/login
// checks an email and password and answers an HS256 JWT signed with its
// secret (and a session cookie); GET /users/me and
// /users/{id}/orders want that token as a bearer token and check its
// signature, algorithm and expiry as the API's own middleware would.
type api struct {
	t        *testing.T
	secret   []byte
	password string
	// tokenTTL is how long issued tokens last; negative issues expired
	// ones. algNone issues unsigned tokens (alg: none).
	tokenTTL time.Duration
	algNone  bool
	// slow delays /users/{id}/orders.
	slow time.Duration

	mu      sync.Mutex
	cookies []string // the session cookie of each request, "" for none
	authz   []string // the Authorization header of each request
}

func newAPI(t *testing.T) (*api, *httptest.Server) {
	a := &api{t: t, secret: []byte("jwt-secret-of-the-api"), password: "correct horse battery", tokenTTL: time.Hour}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/login", a.login)
	mux.HandleFunc("GET /users/me", a.authed(func(w http.ResponseWriter, r *http.Request, sub string) {
		writeJSON(w, map[string]any{"id": 42, "email": sub})
	}))
	mux.HandleFunc("GET /users/{id}/orders", a.authed(func(w http.ResponseWriter, r *http.Request, sub string) {
		if r.PathValue("id") != "42" {
			http.Error(w, `{"error":"not your orders"}`, http.StatusForbidden)
			return
		}
		select {
		case <-time.After(a.slow):
		case <-r.Context().Done():
			return
		}
		writeJSON(w, []any{map[string]any{"id": 7, "total": 12.5}})
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("session")
		a.mu.Lock()
		if c != nil {
			a.cookies = append(a.cookies, c.Value)
		} else {
			a.cookies = append(a.cookies, "")
		}
		a.authz = append(a.authz, r.Header.Get("Authorization"))
		a.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return a, srv
}

func (a *api) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Email, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	if in.Password != a.password {
		http.Error(w, `{"error":"wrong password"}`, http.StatusUnauthorized)
		return
	}
	claims := jwt.MapClaims{"sub": in.Email, "iat": time.Now().Unix(), "exp": time.Now().Add(a.tokenTTL).Unix()}
	var token string
	var err error
	if a.algNone {
		token, err = jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	} else {
		token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.secret)
	}
	if err != nil {
		a.t.Errorf("sign: %v", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Value: "sess-" + in.Email, Path: "/"})
	writeJSON(w, map[string]any{"token": token})
}

// authed checks the bearer token as the API's middleware does: HS256
// with the API's secret, not expired.
func (a *api) authed(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, `{"error":"no token"}`, http.StatusUnauthorized)
			return
		}
		tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return a.secret, nil }, jwt.WithValidMethods([]string{"HS256"}))
		if err != nil {
			msg := "invalid token"
			if errors.Is(err, jwt.ErrTokenExpired) {
				msg = "token expired"
			}
			http.Error(w, `{"error":"`+msg+`"}`, http.StatusUnauthorized)
			return
		}
		sub, _ := tok.Claims.GetSubject()
		next(w, r, sub)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
