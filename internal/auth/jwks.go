package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	// jwksFetchTimeout bounds one fetch of a JWKS URL; a validation that
	// needs fresh keys waits for it.
	jwksFetchTimeout = 10 * time.Second
	// jwksMaxBytes caps a JWKS document; real ones are a few KiB.
	jwksMaxBytes = 1 << 20
)

// keySet holds the verification keys of a JWKS and fetches them again when
// they are older than the refresh interval or a token names a key id the
// set lacks. Fetches are rate-limited: after a successful one, an unknown
// key id fetches again only once JWKSBackoffMax has passed, so a flood of
// made-up key ids cannot flood the identity provider; after a failed one,
// the next waits an exponential backoff from JWKSBackoff to JWKSBackoffMax.
// A failed fetch keeps the keys already held.
type keySet struct {
	cfg    OAuthBearerConfig
	logger *slog.Logger
	read   func() ([]byte, error)

	mu      sync.Mutex
	byKid   map[string][]jose.JSONWebKey // "" holds the keys without a kid
	fetched time.Time                    // last successful fetch
	nextTry time.Time                    // no fetch before this
	backoff time.Duration                // wait after the next failure
	// inflight is closed when the fetch under way ends; nil when none
	// is. Connections that need fresh keys wait for it instead of
	// starting their own, without holding mu across the network.
	inflight chan struct{}
}

func newKeySet(cfg OAuthBearerConfig, logger *slog.Logger) (*keySet, error) {
	read, err := jwksReader(cfg)
	if err != nil {
		return nil, err
	}
	s := &keySet{cfg: cfg, logger: logger, read: read, backoff: cfg.JWKSBackoff}
	if err := s.fetch(cfg.now()); err != nil {
		return nil, fmt.Errorf("%s: %w", settingJWKSURL, err)
	}
	return s, nil
}

// jwksReader returns the function that reads the JWKS document at the
// configured URL.
func jwksReader(cfg OAuthBearerConfig) (func() ([]byte, error), error) {
	if cfg.JWKSURL == "" {
		return nil, fmt.Errorf("%s: OAUTHBEARER needs the JWKS URL of the token issuer (https://, http:// or file://)", settingJWKSURL)
	}
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", settingJWKSURL, err)
	}
	switch u.Scheme {
	case "file":
		if (u.Host != "" && u.Host != "localhost") || u.Path == "" {
			return nil, fmt.Errorf("%s: a file URL is file:///absolute/path, not %q", settingJWKSURL, cfg.JWKSURL)
		}
		return func() ([]byte, error) {
			f, err := os.Open(u.Path)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return readCapped(f)
		}, nil
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("%s: %q has no host", settingJWKSURL, cfg.JWKSURL)
		}
		client := cfg.client
		if client == nil {
			client = &http.Client{Timeout: jwksFetchTimeout}
		}
		return func() ([]byte, error) {
			resp, err := client.Get(u.String())
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
			}
			return readCapped(resp.Body)
		}, nil
	}
	return nil, fmt.Errorf("%s: scheme %q is not https, http or file", settingJWKSURL, u.Scheme)
}

func readCapped(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, jwksMaxBytes+1))
	if err == nil && len(b) > jwksMaxBytes {
		err = fmt.Errorf("JWKS larger than %d bytes", jwksMaxBytes)
	}
	return b, err
}

// lookup returns the keys that may have signed a token with key id kid (a
// token without one may be signed by any key), fetching the set first
// when it is stale or lacks kid and the rate limit allows.
func (s *keySet) lookup(kid string) []jose.JSONWebKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		now := s.cfg.now()
		keys := s.candidates(kid)
		stale := now.Sub(s.fetched) >= s.cfg.JWKSRefresh
		if now.Before(s.nextTry) || !stale && len(keys) > 0 {
			return keys
		}
		if ch := s.inflight; ch != nil {
			s.mu.Unlock()
			<-ch
			s.mu.Lock()
			continue // that fetch usually set nextTry ahead
		}
		ch := make(chan struct{})
		s.inflight = ch
		s.mu.Unlock()
		got, err := s.readKeys()
		s.mu.Lock()
		s.inflight = nil
		close(ch)
		if err := s.install(now, got, err); err != nil {
			s.logger.Warn("OAUTHBEARER JWKS refresh failed; keeping the keys held", "url", redactURL(s.cfg.JWKSURL), "retry_in", s.nextTry.Sub(now), "err", err)
		}
		return s.candidates(kid)
	}
}

func (s *keySet) candidates(kid string) []jose.JSONWebKey {
	if kid != "" {
		return s.byKid[kid]
	}
	var all []jose.JSONWebKey
	for _, ks := range s.byKid {
		all = append(all, ks...)
	}
	return all
}

// fetch reads the JWKS and, if it holds a usable key, replaces the keys
// held; for a keySet not yet shared.
func (s *keySet) fetch(now time.Time) error {
	keys, err := s.readKeys()
	return s.install(now, keys, err)
}

// install takes the outcome of a fetch begun at now: the keys read, or
// err and the backoff. Callers hold s.mu, or own s alone.
func (s *keySet) install(now time.Time, keys map[string][]jose.JSONWebKey, err error) error {
	if err != nil {
		s.nextTry = now.Add(s.backoff)
		s.backoff = min(2*s.backoff, s.cfg.JWKSBackoffMax)
		return err
	}
	s.byKid = keys
	s.fetched = now
	s.nextTry = now.Add(s.cfg.JWKSBackoffMax)
	s.backoff = s.cfg.JWKSBackoff
	return nil
}

func (s *keySet) readKeys() (map[string][]jose.JSONWebKey, error) {
	doc, err := s.read()
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("JWKS is not JSON: %w", err)
	}
	keys := map[string][]jose.JSONWebKey{}
	n := 0
	for i, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			// One key of a type we cannot use does not spoil the others.
			s.logger.Warn("OAUTHBEARER JWKS key skipped", "index", i, "err", err)
			continue
		}
		if !usableKey(k) {
			s.logger.Warn("OAUTHBEARER JWKS key skipped: not a public signature key", "index", i, "kid", k.KeyID)
			continue
		}
		// A JWKS that carries private parts is a mistake at the issuer;
		// only the public half is kept.
		k = k.Public()
		keys[k.KeyID] = append(keys[k.KeyID], k)
		n++
	}
	if n == 0 {
		return nil, errors.New("JWKS has no usable signature key")
	}
	return keys, nil
}

// usableKey reports whether k can verify a signature: an asymmetric key
// (a symmetric one has no valid public half) not reserved for encryption.
func usableKey(k jose.JSONWebKey) bool {
	if k.Use != "" && k.Use != "sig" {
		return false
	}
	pub := k.Public()
	return k.Valid() && pub.Valid()
}

// redactURL hides a password in a JWKS URL before it is logged.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
