package config

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"github.com/golang-jwt/jwt/v5"
)

// maxJWTSize bounds the token jwt() decodes: a JWT is a few hundred bytes.
const maxJWTSize = 16 << 10

// flowEnv is what a flow step's expressions read beyond HTTP's variables:
// vars (what earlier steps extracted, by name), jwt(token) and now().
func flowEnv() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable("vars", cel.MapType(cel.StringType, cel.DynType)),
		cel.Function("jwt", cel.Overload("jwt_string", []*cel.Type{cel.StringType}, cel.MapType(cel.StringType, cel.DynType),
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.NewErr("jwt: want a string")
				}
				m, err := decodeJWT(string(s))
				if err != nil {
					return types.NewErr("%v", err)
				}
				return types.DefaultTypeAdapter.NativeToValue(m)
			}))),
		// now is bound, not a constant: each evaluation reads the clock.
		cel.Function("now", cel.Overload("now", nil, cel.TimestampType,
			cel.FunctionBinding(func(...ref.Val) ref.Val { return types.Timestamp{Time: time.Now()} }))),
	}
}

// jwtDates are the claims that are times (seconds since the epoch).
var jwtDates = []string{"exp", "iat", "nbf"}

// decodeJWT returns a JWT's header and claims WITHOUT verifying its
// signature: {"header": {…}, "claims": {…}}, with the claims exp, iat and
// nbf as time.Time, whole numbers as int64 and other numbers as float64.
// Its errors never hold the token, which is a secret.
func decodeJWT(token string) (map[string]any, error) {
	if len(token) > maxJWTSize {
		return nil, errors.New("jwt: the token is longer than 16 KiB")
	}
	claims := jwt.MapClaims{}
	t, _, err := jwt.NewParser(jwt.WithJSONNumber()).ParseUnverified(token, claims)
	// An algorithm the library does not know is no matter: nothing is
	// verified.
	if err != nil && !errors.Is(err, jwt.ErrTokenUnverifiable) {
		return nil, jwtError(err)
	}
	if t.Header == nil {
		return nil, errors.New("jwt: the header is not a JSON object")
	}
	c := make(map[string]any, len(claims))
	for k, v := range claims {
		c[k] = jsonValue(v)
		if n, ok := v.(json.Number); ok && slices.Contains(jwtDates, k) {
			c[k] = numericDate(n)
		}
	}
	h := make(map[string]any, len(t.Header))
	for k, v := range t.Header {
		h[k] = jsonValue(v)
	}
	return map[string]any{"header": h, "claims": c}, nil
}

// jwtError says which part of a token is malformed, in words of its own:
// the library's message may quote bytes of the token.
func jwtError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid number of segments"):
		return errors.New("jwt: not three base64url parts separated by dots")
	case strings.Contains(msg, "base64 decode header"):
		return errors.New("jwt: the header is not base64url")
	case strings.Contains(msg, "decode header"):
		return errors.New("jwt: the header is not a JSON object")
	case strings.Contains(msg, "base64 decode claim"):
		return errors.New("jwt: the claims are not base64url")
	case strings.Contains(msg, "decode claim"):
		return errors.New("jwt: the claims are not a JSON object")
	case strings.Contains(msg, "decode signature"):
		return errors.New("jwt: the signature is not base64url")
	}
	return errors.New("jwt: malformed token")
}

// jsonValue turns a json.Number (at any depth) into an int64 when whole,
// else a float64.
func jsonValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonValue(e)
		}
		return out
	}
	return v
}

// numericDate is a JWT NumericDate: seconds since the epoch, maybe with a
// fraction.
func numericDate(n json.Number) time.Time {
	if i, err := n.Int64(); err == nil {
		return time.Unix(i, 0).UTC()
	}
	f, _ := n.Float64()
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
}
