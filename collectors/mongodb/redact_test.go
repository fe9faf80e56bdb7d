package mongodb

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestRedactor(t *testing.T) {
	tests := []struct {
		name   string
		uri    string
		err    error
		hidden []string
	}{
		{"whole uri", "mongodb://u:pw1@h:27017/db", errors.New("bad uri mongodb://u:pw1@h:27017/db"), []string{"pw1"}},
		{"password alone", "mongodb://u:pw2@h1,h2/?replicaSet=rs", errors.New("auth failed for pw2"), []string{"pw2"}},
		{"escaped password", "mongodb+srv://u:p%40ss@cluster/", errors.New("saw p@ss and p%40ss"), []string{"p@ss", "p%40ss"}},
		{"no password", "mongodb://h:27017", errors.New("dial h:27017"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := newRedactor(tc.uri).err(fmt.Errorf("op: %w", tc.err))
			for _, s := range tc.hidden {
				if strings.Contains(got.Error(), s) {
					t.Errorf("%q shows %q", got, s)
				}
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("errors.Is lost the original error")
			}
		})
	}
	t.Run("command error still found", func(t *testing.T) {
		err := newRedactor("mongodb://u:pw@h/").err(fmt.Errorf("x pw: %w", mongo.CommandError{Code: codeCommandNotFound}))
		if !isUnsupported(err) {
			t.Errorf("isUnsupported(%v) = false after redaction", err)
		}
	})
}
